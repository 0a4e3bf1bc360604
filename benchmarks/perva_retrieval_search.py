"""Hard-negative search for one category: our blocked matrix products vs the naive per-query loops.

    .venv/bin/python -m benchmarks.perva_retrieval_search [--quick] [--images N] [--dim D]

Synthetic CLIP-like embeddings (ViT-L/14 width 768): concepts of 20 images around a random
centre. OURS: `search.hard_negatives` in blocks of queries x candidates. NAIVE: the seed's loop
(one `np.dot` per query/candidate pair, best image per other concept, sort), and a per-query
numpy loop (one matrix-vector product per query), both on a sample of queries (extrapolated),
and the full n x n similarity matrix (fast, but its memory grows with the square of the category).
Peak memory is the working memory traced by `tracemalloc` (numpy reports its buffers to it),
over the input embeddings. The exactness line compares our answers with the seed loop's.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from dataprep_assets.defs.perva_retrieval.search import hard_negatives, naive_hard_negatives, topk_rows

MIB = 1 << 20


def synthetic(n: int, dim: int, per_concept: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(-(-n // per_concept)), per_concept)[:n]
    centres = rng.normal(size=(groups.max() + 1, dim)).astype(np.float32)
    emb = centres[groups] + rng.normal(scale=1.2, size=(n, dim)).astype(np.float32)
    return (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32), groups


def measure(fn):
    tracemalloc.start()
    started = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return out, seconds, peak / MIB


def per_query_numpy(emb: np.ndarray, groups: np.ndarray, k: int, queries: np.ndarray) -> np.ndarray:
    """One matrix-vector product per query, best image per concept with reduceat, then top-k."""
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    out = np.full((len(queries), k), -1, dtype=np.int64)
    for row, q in enumerate(queries):
        sims = emb @ emb[q]
        sims[groups == groups[q]] = -np.inf
        best = np.maximum.reduceat(sims, starts)
        top = np.argsort(-best, kind="stable")[:k]
        out[row] = [starts[c] + int(np.argmax(sims[starts[c] : (starts[c + 1] if c + 1 < len(starts) else len(sims))])) for c in top]
    return out


def full_matrix(emb: np.ndarray, groups: np.ndarray, k: int, per_concept: int) -> np.ndarray:
    """All similarities at once (n x n), per-concept maxima, top-k: memory O(n^2)."""
    n = len(emb)
    sims = emb @ emb.T
    sims[groups[:, None] == groups[None, :]] = -np.inf
    by_concept = sims.reshape(n, -1, per_concept)
    _, concepts = topk_rows(by_concept.max(axis=2), np.arange(by_concept.shape[1]), k)
    best_in_concept = by_concept.argmax(axis=2)
    return np.where(concepts >= 0, concepts * per_concept + np.take_along_axis(best_in_concept, np.maximum(concepts, 0), axis=1), -1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke size (2,000 images)")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--k", type=int, default=3)
    args = parser.parse_args(argv)
    per_concept = 20
    n = (2_000 if args.quick else args.images) // per_concept * per_concept
    seed_sample, numpy_sample = (30, 200) if args.quick else (150, 500)
    emb, groups = synthetic(n, args.dim, per_concept)
    hard_negatives(emb[:1024], groups[:1024], args.k)  # warm up BLAS threads before timing
    queries = np.linspace(0, n - 1, seed_sample).astype(int)
    print(f"perva_retrieval search: one category of {n:,} images, {groups.max() + 1} concepts, dim {args.dim}, K={args.k}, one negative per concept")

    ours, ours_s, ours_mib = measure(lambda: hard_negatives(emb, groups, args.k, query_block=512, candidate_block=2048))
    ours_qps = n / ours_s
    print(f"OURS   blocked 512x2048 matrix products : {n:>6,} queries in {ours_s:7.2f} s = {ours_qps:9.1f} queries/s, peak {ours_mib:8.1f} MiB")

    sub_emb, sub_groups = emb, groups
    (ref, seed_s, seed_mib) = measure(lambda: _seed_loop(sub_emb, sub_groups, args.k, queries))
    seed_qps = len(queries) / seed_s
    print(f"NAIVE  seed loop, np.dot per pair       : {len(queries):>6,} queries in {seed_s:7.2f} s = {seed_qps:9.1f} queries/s, peak {seed_mib:8.1f} MiB"
          f"  (all {n:,}: ~{n / seed_qps / 60:.1f} min)")

    numpy_queries = np.linspace(0, n - 1, numpy_sample).astype(int)
    (_, numpy_s, numpy_mib) = measure(lambda: per_query_numpy(emb, groups, args.k, numpy_queries))
    numpy_qps = len(numpy_queries) / numpy_s
    print(f"NAIVE  per-query numpy (matvec)         : {len(numpy_queries):>6,} queries in {numpy_s:7.2f} s = {numpy_qps:9.1f} queries/s, peak {numpy_mib:8.1f} MiB")

    (full, full_s, full_mib) = measure(lambda: full_matrix(emb, groups, args.k, per_concept))
    print(f"NAIVE  full n x n similarity matrix     : {n:>6,} queries in {full_s:7.2f} s = {n / full_s:9.1f} queries/s, peak {full_mib:8.1f} MiB")

    print(f"ratio  ours / seed loop = {ours_qps / seed_qps:.0f}x queries/s; ours / per-query numpy = {ours_qps / numpy_qps:.1f}x; "
          f"memory full matrix / ours = {full_mib / max(ours_mib, 1e-9):.0f}x")
    exact_seed = np.array_equal(ours.neg_idx[queries], ref)
    exact_full = np.array_equal(ours.neg_idx, full)
    print(f"exact  blocked == seed loop on the {len(queries)} sampled queries: {exact_seed}; blocked == full matrix on all {n:,}: {exact_full}")

    sizes = [n // 2, n, n * 2]
    peaks = []
    for size in sizes:
        e, g = synthetic(size, args.dim, per_concept, seed=1)
        peaks.append(measure(lambda: hard_negatives(e, g, args.k, query_block=512, candidate_block=2048))[2])
        del e, g
    print("memory ours vs category size (blocks 512x2048): " + ", ".join(f"{s:,} images -> {p:.1f} MiB" for s, p in zip(sizes, peaks)))
    blocks = [(128, 1024), (512, 2048), (2048, 4096)]
    peaks = [measure(lambda: hard_negatives(emb, groups, args.k, query_block=q, candidate_block=c)) for q, c in blocks]
    print("memory ours vs block size (" + f"{n:,} images): " + ", ".join(f"{q}x{c} -> {p[2]:.1f} MiB, {n / p[1]:.0f} q/s" for (q, c), p in zip(blocks, peaks)))


def _seed_loop(emb: np.ndarray, groups: np.ndarray, k: int, queries: np.ndarray) -> np.ndarray:
    """`naive_hard_negatives` restricted to some queries (the full run is O(n^2) Python steps)."""
    out = np.full((len(queries), k), -1, dtype=np.int64)
    for row, q in enumerate(queries):
        best: dict[int, tuple[float, int]] = {}
        for j in range(len(emb)):
            if groups[j] == groups[q]:
                continue
            s = float(np.dot(emb[q], emb[j]))
            g = int(groups[j])
            if g not in best or s > best[g][0]:
                best[g] = (s, j)
        ranked = sorted(best.values(), key=lambda t: (-t[0], t[1]))[:k]
        out[row, : len(ranked)] = [j for _, j in ranked]
    return out


if __name__ == "__main__":
    assert naive_hard_negatives  # the library's reference loop; `_seed_loop` is it for a subset of queries
    main()
