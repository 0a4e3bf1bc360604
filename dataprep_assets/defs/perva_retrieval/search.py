"""Exact hard-negative search over image embeddings, in blocks of matrix products.

For every query image: the K most similar images of *other* concepts (hard negatives) and one
other image of its own concept (the positive: the least similar one by default, as the seed's
`get_alternate_query`). Similarity is the dot product (cosine for L2-normalised embeddings).

Queries are taken `query_block` at a time and candidates `candidate_block` at a time, so the
working memory is O(query_block x (candidate_block + concepts)), never O(images^2). Results are
exact (no approximate index) and deterministic: ties go to the lower index in concept-sorted order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

PositiveMode = Literal["hardest", "easiest", "none"]


@dataclass(frozen=True)
class SearchResult:
    neg_idx: np.ndarray
    """(n, k) int64 indices into the input rows, most similar first; -1 where there are fewer than k."""
    neg_sim: np.ndarray
    """(n, k) float32 similarities; NaN where `neg_idx` is -1."""
    pos_idx: np.ndarray
    """(n,) int64: the chosen other image of the query's own concept; -1 if it has none."""
    pos_sim: np.ndarray
    """(n,) float32; NaN where `pos_idx` is -1."""


def topk_rows(values: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest `values` ordered by (value desc, id asc); exact, ties included.

    `ids` is (r, m) or (m,). Entries equal to -inf are never selected: their slots get id -1.
    """
    r, m = values.shape
    ids = np.broadcast_to(ids, values.shape)
    if m > k:
        kth = np.partition(values, m - k, axis=1)[:, m - k]
        rows, cols = np.nonzero((values >= kth[:, None]) & (values > -np.inf))
    else:
        rows, cols = np.nonzero(values > -np.inf)
    vals, idx = values[rows, cols], ids[rows, cols]
    order = np.lexsort((idx, -vals, rows))
    rows, vals, idx = rows[order], vals[order], idx[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, np.arange(r))[rows]
    keep = rank < k
    out_v = np.full((r, k), -np.inf, dtype=values.dtype)
    out_i = np.full((r, k), -1, dtype=np.int64)
    out_v[rows[keep], rank[keep]] = vals[keep]
    out_i[rows[keep], rank[keep]] = idx[keep]
    return out_v, out_i


def _check_inputs(emb: np.ndarray, groups: np.ndarray, k: int) -> None:
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be 2-D (images x dims), got shape {emb.shape}")
    if len(groups) != len(emb):
        raise ValueError(f"{len(groups)} concept labels for {len(emb)} embeddings")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not np.isfinite(emb).all():
        raise ValueError("embeddings contain NaN or inf")


def _dense_groups(groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stable order that sorts by concept, and dense concept ids 0..C-1 in that order."""
    order = np.argsort(groups, kind="stable")
    _, dense = np.unique(np.asarray(groups)[order], return_inverse=True)
    return order, dense.astype(np.int64)


def hard_negatives(
    emb: np.ndarray,
    groups: np.ndarray,
    k: int,
    *,
    one_per_concept: bool = True,
    positive: PositiveMode = "hardest",
    query_block: int = 256,
    candidate_block: int = 4096,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Blocked exact search; `groups` holds each row's concept (any sortable labels).

    `one_per_concept=True` (the seed's behaviour): the best image of each other concept, then the
    k best concepts. False: the k best images of other concepts, several may share a concept.
    """
    _check_inputs(emb, groups, k)
    if query_block < 1 or candidate_block < 1:
        raise ValueError("query_block and candidate_block must be >= 1")
    n = len(emb)
    order, gid = _dense_groups(np.asarray(groups))
    sorted_emb = emb if np.array_equal(order, np.arange(n)) else emb[order]
    sorted_emb = np.ascontiguousarray(sorted_emb, dtype=np.float32)
    bounds = np.searchsorted(gid, np.arange(int(gid[-1]) + 2 if n else 1))
    neg_idx = np.full((n, k), -1, dtype=np.int64)
    neg_sim = np.full((n, k), np.nan, dtype=np.float32)
    pos_idx = np.full(n, -1, dtype=np.int64)
    pos_sim = np.full(n, np.nan, dtype=np.float32)
    for q0 in range(0, n, query_block):
        q1 = min(q0 + query_block, n)
        block = _search_block(sorted_emb, gid, bounds, q0, q1, k, one_per_concept, positive, candidate_block)
        neg_idx[q0:q1], neg_sim[q0:q1], pos_idx[q0:q1], pos_sim[q0:q1] = block
        if progress:
            progress(q1, n)
    # back from concept-sorted positions to the caller's row order
    valid = neg_idx >= 0
    neg_idx[valid] = order[neg_idx[valid]]
    has_pos = pos_idx >= 0
    pos_idx[has_pos] = order[pos_idx[has_pos]]
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return SearchResult(neg_idx[inverse], neg_sim[inverse], pos_idx[inverse], pos_sim[inverse])


def _search_block(emb, gid, bounds, q0, q1, k, one_per_concept, positive, candidate_block):
    """One block of queries against every candidate tile (similarities laid out queries x candidates)."""
    b, n = q1 - q0, len(emb)
    queries, qg = emb[q0:q1], gid[q0:q1]
    # candidates of the block's own concepts: a contiguous band (the input is sorted by concept)
    band0, band1 = int(bounds[qg[0]]), int(bounds[qg[-1] + 1])
    pos_idx, pos_sim = _positives(emb, gid, queries, qg, q0, band0, band1, positive)
    if one_per_concept:
        best = np.full((b, len(bounds) - 1), -np.inf, dtype=np.float32)
    else:
        run_v = np.full((b, k), -np.inf, dtype=np.float32)
        run_i = np.full((b, k), -1, dtype=np.int64)
    for c0 in range(0, n, candidate_block):
        c1 = min(c0 + candidate_block, n)
        sims = queries @ emb[c0:c1].T
        lo, hi = max(c0, band0), min(c1, band1)
        if lo < hi:  # hide the query's own concept (and the query itself)
            own = gid[lo:hi][None, :] == qg[:, None]
            sims[:, lo - c0 : hi - c0][own] = -np.inf
        tg = gid[c0:c1]
        if one_per_concept:
            starts = np.flatnonzero(np.r_[True, tg[1:] != tg[:-1]])
            window = best[:, tg[0] : tg[-1] + 1]  # concepts of a tile are a contiguous range
            np.maximum(window, np.maximum.reduceat(sims, starts, axis=1), out=window)
        else:
            merged_v = np.hstack([run_v, sims])
            merged_i = np.hstack([run_i, np.broadcast_to(np.arange(c0, c1), (b, c1 - c0))])
            run_v, run_i = topk_rows(merged_v, merged_i, k)
    if one_per_concept:
        # rank concepts by their best similarity (ties: lower concept = lower indices), then find
        # which image of each chosen concept attains it
        values, chosen = topk_rows(best, np.arange(len(bounds) - 1), k)
        idx = _argmax_in_concepts(emb, queries, chosen, bounds)
    else:
        values, idx = run_v, run_i
    return idx, np.where(idx >= 0, values, np.nan).astype(np.float32), pos_idx, pos_sim


def _positives(emb, gid, queries, qg, q0, band0, band1, positive):
    """For each query: the least (or most) similar other image of its own concept, -1 if none."""
    b = len(queries)
    if positive == "none":
        return np.full(b, -1, dtype=np.int64), np.full(b, np.nan, dtype=np.float32)
    hardest = positive == "hardest"
    fill = np.inf if hardest else -np.inf
    sims = queries @ emb[band0:band1].T
    other = (gid[band0:band1][None, :] != qg[:, None]) | (
        np.arange(band0, band1)[None, :] == np.arange(q0, q0 + b)[:, None]
    )
    sims[other] = fill
    j = sims.argmin(axis=1) if hardest else sims.argmax(axis=1)
    val = sims[np.arange(b), j]
    found = np.isfinite(val)
    return np.where(found, j + band0, -1).astype(np.int64), np.where(found, val, np.nan).astype(np.float32)


def _argmax_in_concepts(emb, queries, chosen, bounds) -> np.ndarray:
    """For each (query, chosen concept): the concept's image most similar to the query (first on ties)."""
    idx = np.full(chosen.shape, -1, dtype=np.int64)
    for concept in np.unique(chosen[chosen >= 0]):
        rows, slots = np.nonzero(chosen == concept)
        start, stop = bounds[concept], bounds[concept + 1]
        idx[rows, slots] = start + (queries[rows] @ emb[start:stop].T).argmax(axis=1)
    return idx


def naive_hard_negatives(
    emb: np.ndarray, groups: np.ndarray, k: int, *, one_per_concept: bool = True, positive: PositiveMode = "hardest"
) -> SearchResult:
    """The seed's way, one query at a time and one candidate at a time (`np.dot` per pair).

    The reference the blocked search is tested and benchmarked against; O(n^2) Python steps.
    """
    _check_inputs(emb, groups, k)
    n = len(emb)
    order, gid = _dense_groups(np.asarray(groups))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    emb64 = np.asarray(emb, dtype=np.float64)
    neg_idx = np.full((n, k), -1, dtype=np.int64)
    neg_sim = np.full((n, k), np.nan, dtype=np.float32)
    pos_idx = np.full(n, -1, dtype=np.int64)
    pos_sim = np.full(n, np.nan, dtype=np.float32)
    group_of = np.empty(n, dtype=np.int64)
    group_of[order] = gid
    for q in range(n):
        best: dict[int, tuple[float, int]] = {}
        found: list[tuple[float, int]] = []
        pos: tuple[float, int] | None = None
        for j in range(n):
            if j == q:
                continue
            s = float(np.dot(emb64[q], emb64[j]))
            if group_of[j] == group_of[q]:
                if positive != "none":
                    key = (s, rank[j]) if positive == "hardest" else (-s, rank[j])
                    if pos is None or key < (
                        (pos[0], rank[pos[1]]) if positive == "hardest" else (-pos[0], rank[pos[1]])
                    ):
                        pos = (s, j)
                continue
            if one_per_concept:
                g = int(group_of[j])
                if g not in best or s > best[g][0] or (s == best[g][0] and rank[j] < rank[best[g][1]]):
                    best[g] = (s, j)
            else:
                found.append((s, j))
        candidates = list(best.values()) if one_per_concept else found
        candidates.sort(key=lambda t: (-t[0], rank[t[1]]))
        for slot, (s, j) in enumerate(candidates[:k]):
            neg_idx[q, slot], neg_sim[q, slot] = j, s
        if pos is not None:
            pos_sim[q], pos_idx[q] = pos
    return SearchResult(neg_idx, neg_sim, pos_idx, pos_sim)
