"""Exact hard-negative search over image embeddings, in blocks of matrix products.

For every query image: the K most similar images of *other* concepts (hard negatives) and one
other image of its own concept (the positive: the least similar one by default, as the seed's
`get_alternate_query`). Similarity is the dot product (cosine for L2-normalised embeddings).

Images are sorted by concept and cut into tiles of whole concepts (`block` rows); similarity is
symmetric, so each pair of tiles is one matrix product that serves the queries of both tiles. Per
query, a running top-k (of concepts, with the image attaining each concept's best, or of images) is
kept, so the working memory is O(images x k + block^2), never O(images^2). Results are exact (no
approximate index) and deterministic: ties go to the lower index in concept-sorted order.
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


def concept_tiles(bounds: np.ndarray, block: int) -> list[tuple[int, int, int, int]]:
    """Consecutive whole concepts grouped into tiles of at most `block` rows (a larger concept is a tile of its
    own): (first row, end row, first concept, end concept) in concept-sorted order."""
    tiles, c0 = [], 0
    concepts = len(bounds) - 1
    while c0 < concepts:
        c1 = c0 + 1
        while c1 < concepts and bounds[c1 + 1] - bounds[c0] <= block:
            c1 += 1
        tiles.append((int(bounds[c0]), int(bounds[c1]), c0, c1))
        c0 = c1
    return tiles


def hard_negatives(
    emb: np.ndarray,
    groups: np.ndarray,
    k: int,
    *,
    one_per_concept: bool = True,
    positive: PositiveMode = "hardest",
    block: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> SearchResult:
    """Exact search in tiles of whole concepts; `groups` holds each row's concept (any sortable labels).

    `one_per_concept=True` (the seed's behaviour): the best image of each other concept, then the
    k best concepts. False: the k best images of other concepts, several may share a concept.
    Similarity is symmetric, so each pair of tiles is multiplied once and serves the queries of both
    tiles (half the products of a query-by-candidate loop, as `emb @ emb.T` gets from BLAS `syrk`).
    Memory: a running top-k per image plus one tile x tile block of similarities.
    """
    _check_inputs(emb, groups, k)
    if block < 1:
        raise ValueError(f"block must be >= 1, got {block}")
    n = len(emb)
    order, gid = _dense_groups(np.asarray(groups))
    sorted_emb = emb if np.array_equal(order, np.arange(n)) else emb[order]
    sorted_emb = np.ascontiguousarray(sorted_emb, dtype=np.float32)
    bounds = np.searchsorted(gid, np.arange(int(gid[-1]) + 2 if n else 1))
    top = _RunningTopK(n, k, bounds if one_per_concept else None)
    pos_idx = np.full(n, -1, dtype=np.int64)
    pos_sim = np.full(n, np.nan, dtype=np.float32)
    tiles = concept_tiles(bounds, block)
    pairs, done = len(tiles) * (len(tiles) + 1) // 2, 0
    for a, (r0, r1, _, _) in enumerate(tiles):
        rows = sorted_emb[r0:r1]
        sims = rows @ rows.T
        own = gid[r0:r1][:, None] == gid[r0:r1][None, :]
        pos_idx[r0:r1], pos_sim[r0:r1] = _positives(sims, own, r0, positive)
        sims[own] = -np.inf  # the query's own concept (and the query itself) is never a negative
        top.fold(r0, sims, tiles[a])
        for tile in tiles[a + 1 :]:
            sims = rows @ sorted_emb[tile[0] : tile[1]].T
            top.fold(r0, sims, tile)
            top.fold(tile[0], sims.T, tiles[a])
        done += len(tiles) - a
        if progress:
            progress(done, pairs)
    neg_idx, values = top.result()
    neg_sim = np.where(neg_idx >= 0, values, np.nan).astype(np.float32)
    # back from concept-sorted positions to the caller's row order
    valid = neg_idx >= 0
    neg_idx[valid] = order[neg_idx[valid]]
    has_pos = pos_idx >= 0
    pos_idx[has_pos] = order[pos_idx[has_pos]]
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return SearchResult(neg_idx[inverse], neg_sim[inverse], pos_idx[inverse], pos_sim[inverse])


class _RunningTopK:
    """Per query row, the k best (similarity, id) seen so far: ids are concepts (with the image that attains
    each concept's best) when `bounds` is given, else images. Ties: the lower id."""

    def __init__(self, n: int, k: int, bounds: np.ndarray | None):
        self.k, self.bounds = k, bounds
        self.values = np.full((n, k), -np.inf, dtype=np.float32)
        self.ids = np.full((n, k), -1, dtype=np.int64)
        self.images = self.ids if bounds is None else np.full((n, k), -1, dtype=np.int64)
        """The image behind each kept id (the ids themselves when they are images)."""

    def fold(self, r0: int, sims: np.ndarray, tile: tuple[int, int, int, int]) -> None:
        """Fold in the similarities of rows `r0:` (queries) against the images of `tile` (columns)."""
        c0, c1, g0, g1 = tile
        r1 = r0 + len(sims)
        old_v, old_i = self.values[r0:r1], self.ids[r0:r1]
        if self.bounds is None:
            values, ids = topk_rows(np.hstack([old_v, sims]), np.hstack([old_i, _ids(c0, c1, len(sims))]), self.k)
            self.values[r0:r1], self.ids[r0:r1] = values, ids
            return
        starts = self.bounds[g0:g1] - c0
        best = np.maximum.reduceat(sims, starts, axis=1)  # each concept's best image, per query
        values, ids = topk_rows(np.hstack([old_v, best]), np.hstack([old_i, _ids(g0, g1, len(sims))]), self.k)
        new = (ids >= g0) & (ids < g1)
        # a kept concept from an earlier tile keeps the image found then
        same = ids[:, :, None] == old_i[:, None, :]
        images = np.where(same.any(axis=2), np.take_along_axis(self.images[r0:r1], same.argmax(axis=2), axis=1), -1)
        rows, slots = np.nonzero(new)
        concepts = ids[rows, slots]
        first = _first_max(sims, rows, self.bounds[concepts] - c0, self.bounds[concepts + 1] - c0, values[rows, slots])
        images[rows, slots] = c0 + first
        self.values[r0:r1], self.ids[r0:r1], self.images[r0:r1] = values, ids, images

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        return self.images.copy(), self.values


def _first_max(
    sims: np.ndarray, rows: np.ndarray, starts: np.ndarray, stops: np.ndarray, maxima: np.ndarray
) -> np.ndarray:
    """For each (row, column range): the first column of the range where `sims` equals the range's maximum."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    lengths = stops - starts
    offsets = np.cumsum(lengths) - lengths
    cols = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    hit = sims[np.repeat(rows, lengths), cols] == np.repeat(maxima, lengths)
    return np.minimum.reduceat(np.where(hit, cols, np.iinfo(np.int64).max), offsets)


def _ids(i0: int, i1: int, rows: int) -> np.ndarray:
    return np.broadcast_to(np.arange(i0, i1, dtype=np.int64), (rows, i1 - i0))


def _positives(sims: np.ndarray, own: np.ndarray, r0: int, positive: PositiveMode) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a tile: the least (or most) similar other image of its own concept, -1 if none."""
    b = len(sims)
    if positive == "none":
        return np.full(b, -1, dtype=np.int64), np.full(b, np.nan, dtype=np.float32)
    hardest = positive == "hardest"
    candidates = np.where(own & ~np.eye(b, dtype=bool), sims, np.inf if hardest else -np.inf)
    j = candidates.argmin(axis=1) if hardest else candidates.argmax(axis=1)
    val = candidates[np.arange(b), j]
    found = np.isfinite(val)
    return np.where(found, j + r0, -1).astype(np.int64), np.where(found, val, np.nan).astype(np.float32)


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
