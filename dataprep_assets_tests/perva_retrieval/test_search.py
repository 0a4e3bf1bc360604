"""The blocked similarity search must return exactly what the seed's one-pair-at-a-time loop
returns, whatever the block sizes, and never a same-concept image or the query as a negative."""

import numpy as np
import pytest

from dataprep_assets.defs.perva_retrieval.search import hard_negatives, naive_hard_negatives, topk_rows


def _embeddings(rng, n, d=16, concepts=6, labels_as_str=False):
    groups = rng.integers(0, concepts, n)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, (np.array([f"c{g:02d}" for g in groups]) if labels_as_str else groups)


@pytest.mark.parametrize("one_per_concept", [True, False])
@pytest.mark.parametrize("positive", ["hardest", "easiest", "none"])
def test_blocked_search_equals_naive_loop(one_per_concept, positive):
    rng = np.random.default_rng(7)
    for trial in range(5):
        emb, groups = _embeddings(
            rng, int(rng.integers(3, 120)), concepts=int(rng.integers(1, 10)), labels_as_str=bool(trial % 2)
        )
        k = int(rng.integers(1, 6))
        ours = hard_negatives(
            emb,
            groups,
            k,
            one_per_concept=one_per_concept,
            positive=positive,
            block=int(rng.integers(1, 50)),
        )
        ref = naive_hard_negatives(emb, groups, k, one_per_concept=one_per_concept, positive=positive)
        np.testing.assert_array_equal(ours.neg_idx, ref.neg_idx)
        np.testing.assert_allclose(ours.neg_sim, ref.neg_sim, atol=1e-5)
        np.testing.assert_array_equal(ours.pos_idx, ref.pos_idx)
        np.testing.assert_allclose(ours.pos_sim, ref.pos_sim, atol=1e-5)


def test_results_do_not_depend_on_block_sizes():
    emb, groups = _embeddings(np.random.default_rng(1), 500, d=32, concepts=40)
    runs = [hard_negatives(emb, groups, 4, block=b) for b in (1, 7, 64, 100, 4096)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0].neg_idx, other.neg_idx)
        np.testing.assert_array_equal(runs[0].pos_idx, other.pos_idx)


def test_negatives_are_other_concepts_never_the_query():
    emb, groups = _embeddings(np.random.default_rng(2), 300, concepts=12)
    for one in (True, False):
        res = hard_negatives(emb, groups, 5, one_per_concept=one, block=37)
        for q in range(len(emb)):
            negs = res.neg_idx[q][res.neg_idx[q] >= 0]
            assert q not in negs
            assert not np.any(groups[negs] == groups[q])
            if one:
                assert len(set(groups[negs])) == len(negs)
            assert np.all(np.diff(res.neg_sim[q][: len(negs)]) <= 1e-6)
            if res.pos_idx[q] >= 0:
                assert res.pos_idx[q] != q and groups[res.pos_idx[q]] == groups[q]


def test_small_category_pads_with_minus_one():
    emb = np.eye(4, dtype=np.float32)
    res = hard_negatives(emb, np.array([0, 0, 1, 2]), 3)
    assert (res.neg_idx >= 0).sum(axis=1).tolist() == [2, 2, 2, 2]
    assert res.neg_idx[0, 2] == -1 and np.isnan(res.neg_sim[0, 2])
    assert res.pos_idx.tolist() == [1, 0, -1, -1]


def test_topk_rows_breaks_ties_by_id():
    values = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]], dtype=np.float32)
    v, i = topk_rows(values, np.array([10, 4, 9, 1, 2]), 2)
    assert i.tolist() == [[2, 4]] and v.tolist() == [[3.0, 3.0]]
    v, i = topk_rows(np.array([[-np.inf, 0.5]], dtype=np.float32), np.array([0, 1]), 2)
    assert i.tolist() == [[1, -1]]


def test_bad_inputs_raise_clear_errors():
    emb = np.ones((3, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="concept labels"):
        hard_negatives(emb, np.array([0, 1]), 1)
    with pytest.raises(ValueError, match="NaN"):
        hard_negatives(np.full((2, 2), np.nan, dtype=np.float32), np.array([0, 1]), 1)
    with pytest.raises(ValueError, match="k must be"):
        hard_negatives(emb, np.array([0, 1, 2]), 0)
