"""Compact teacher rows (teacher/compaction.py): both keep rules (a budget per position, a mean budget per
chunk), neutral padding, float16 storage."""

import heapq

import numpy as np
import pytest
import torch

from causal_unlearn.teacher import compaction
from causal_unlearn.teacher.compaction import compact_rows, kl_by_kept_count, pad_rows, stored_kl
from causal_unlearn.unlearn.losses import compact_kl
from helpers import model_like_rows as _rows


def _tail_mass(probs: torch.Tensor, counts: np.ndarray) -> np.ndarray:
    """Mass outside each row's top counts[p] tokens, summed directly (no cancellation on peaked rows)."""
    ordered = np.sort(probs.double().numpy(), axis=-1)[:, ::-1]
    return np.array([row[count:].sum() for row, count in zip(ordered, counts)])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_closed_form_kl_equals_the_kl_of_the_stored_row(seed):
    probs = _rows(seed).double()
    probs = probs / probs.sum(-1, keepdim=True)  # stored_kl reads its rows as distributions (normalised)
    top = torch.topk(probs, 40, -1)
    closed = kl_by_kept_count(probs, top.values)
    for kept in (1, 7, 40):
        residual = _tail_mass(probs, np.full(len(probs), kept))
        direct = stored_kl(probs.numpy(), top.indices.numpy(), top.values.numpy(), residual, np.full(len(probs), kept))
        assert np.allclose(closed[:, kept - 1].numpy(), direct, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("kl_budget", [1e-1, 1e-2, 1e-3])
def test_each_row_keeps_the_fewest_tokens_that_meet_the_kl_budget(kl_budget):
    probs = _rows(3)
    ids, values, residual, kept = compact_rows(probs, top_k=300, kl_budget=kl_budget, scope="position")
    full = torch.topk(probs, 301, -1)
    full_ids = full.indices.numpy()

    def kl_keeping(counts):  # exact values: the rule is about which tokens, not their rounding
        residual = _tail_mass(probs, counts)
        return stored_kl(probs.numpy(), full_ids, full.values.numpy(), residual, counts)

    kl = {shift: kl_keeping(np.maximum(kept + shift, 1)) for shift in (-1, 0)}
    meets = kl[0] <= kl_budget * (1 + 1e-6)
    one_fewer_does_not = kl[-1] > kl_budget * (1 - 1e-6)
    assert np.all(meets[kept < 300]) and np.all(one_fewer_does_not[kept > 1])
    for row, count in enumerate(kept):  # the top token first, then the others in id order (as the artifact stores them)
        assert ids[row, 0] == full_ids[row, 0] and np.array_equal(ids[row, 1:count], np.sort(full_ids[row, 1:count]))
    assert np.allclose(values.sum(-1) + residual, 1.0, atol=1e-5)
    assert 1 <= kept.min() and kept.max() <= 300 and kept.min() < kept.max()  # peaked rows keep fewer
    # What is stored (float16 values) is as close to the full rows as the rule promises.
    stored = stored_kl(probs.numpy(), ids, values, residual, kept)
    assert np.all(stored <= kl[0] + 1e-5)


def test_a_tighter_budget_never_keeps_fewer_tokens():
    probs = _rows(6)
    counts = [compact_rows(probs, top_k=4000, kl_budget=budget, scope="position")[3] for budget in (1e-1, 1e-2, 1e-3, 1e-4)]
    for looser, tighter in zip(counts, counts[1:]):
        assert np.all(tighter >= looser) and tighter.sum() > looser.sum()


def test_probabilities_are_stored_at_the_artifacts_precision_and_rows_sum_to_one():
    probs = _rows(8)
    _, values, residual, _ = compact_rows(probs, top_k=50, kl_budget=0.0)
    rest = values[:, 1:]
    assert np.array_equal(rest, compaction.from_stored(compaction.to_stored(rest)))
    assert np.allclose(values.sum(-1, dtype=np.float64) + residual, 1.0, atol=1e-6)
    top = torch.topk(probs, 1, -1).values[:, 0].numpy()
    # The top probability carries the others' rounding: at most half a float16 step of each.
    assert np.all(np.abs(values[:, 0] - top) <= 2.0 ** -11 * (1 - top) + 1e-6)


def test_padding_repeats_the_first_id_with_zero_mass_and_changes_no_loss():
    probs = _rows(4)
    ids, values, residual, kept = compact_rows(probs, top_k=300, kl_budget=1e-3)
    for row in range(len(ids)):
        assert np.all(ids[row, kept[row]:] == ids[row, 0]) and np.all(values[row, kept[row]:] == 0)
    wide_ids, wide_values = pad_rows(ids, values, ids.shape[1] + 5)
    student = torch.randn(len(probs), probs.shape[-1])
    narrow = compact_kl(student, torch.from_numpy(ids), torch.from_numpy(values), torch.from_numpy(residual))
    wide = compact_kl(student, torch.from_numpy(wide_ids), torch.from_numpy(wide_values), torch.from_numpy(residual))
    assert torch.allclose(narrow, wide, atol=1e-6)


def test_looking_further_only_for_flat_rows_gives_the_single_pass_result(monkeypatch):
    probs = _rows(9, count=40)
    monkeypatch.setattr(compaction, "FIRST_PASS", 16)  # most rows need more than 16: the second pass runs
    two_pass = compact_rows(probs, top_k=400, kl_budget=1e-4, scope="position")
    monkeypatch.setattr(compaction, "FIRST_PASS", 10**6)
    one_pass = compact_rows(probs, top_k=400, kl_budget=1e-4, scope="position")
    assert (two_pass[3] > 16).any() and (two_pass[3] <= 16).any()
    for a, b in zip(two_pass, one_pass):
        assert np.array_equal(a, b)


def test_zero_bound_keeps_exactly_top_k():
    _, values, _, kept = compact_rows(_rows(5), top_k=17, kl_budget=0.0)
    assert values.shape[1] == 17 and np.all(kept == 17)


def _greedy_counts(curve: np.ndarray, kl_budget: float) -> np.ndarray:
    """The plain byte-optimal answer for comparison: start from one token per row and keep adding the
    single token, anywhere, that removes the most KL, until the mean is under the budget."""
    counts = np.ones(len(curve), dtype=int)
    total = curve[:, 0].sum()
    heap = [(-(curve[row, 0] - curve[row, 1]), row) for row in range(len(curve))]
    heapq.heapify(heap)
    while total > kl_budget * len(curve):
        gain, row = heapq.heappop(heap)
        counts[row] += 1
        total += gain
        if counts[row] < curve.shape[1]:
            heapq.heappush(heap, (-(curve[row, counts[row] - 1] - curve[row, counts[row]]), row))
    return counts


@pytest.mark.parametrize("kl_budget", [1e-2, 3e-3, 1e-3])
def test_a_chunk_budget_meets_the_mean_with_as_few_tokens_as_greedy_allocation(kl_budget):
    probs = _rows(11, count=30)
    ids, values, residual, kept = compact_rows(probs, top_k=400, kl_budget=kl_budget, scope="chunk")
    curve = kl_by_kept_count(probs, torch.topk(probs, 400, -1).values).numpy()
    assert curve[:, -1].mean() < kl_budget < curve[:, 0].mean()  # within reach, and not met by one token a row
    exact_mean = curve[np.arange(len(kept)), kept - 1].mean()
    assert exact_mean <= kl_budget * (1 + 1e-6)
    greedy = _greedy_counts(curve, kl_budget)
    assert abs(int(kept.sum()) - int(greedy.sum())) <= len(kept)  # the same total, up to a token per row at the threshold
    # What is stored (float16 values) keeps the mean within rounding of the rule's.
    assert stored_kl(probs.numpy(), ids, values, residual, kept).mean() <= kl_budget * 1.01 + 1e-6


def test_at_the_same_mean_kl_a_chunk_budget_keeps_fewer_tokens_than_a_budget_per_position():
    probs = _rows(12, count=30)
    curve = kl_by_kept_count(probs, torch.topk(probs, 400, -1).values).numpy()
    per_position = compact_rows(probs, top_k=400, kl_budget=1e-3, scope="position")[3]
    mean_per_position = curve[np.arange(len(per_position)), per_position - 1].mean()
    per_chunk = compact_rows(probs, top_k=400, kl_budget=float(mean_per_position), scope="chunk")[3]
    assert per_chunk.sum() < per_position.sum()


def test_a_tighter_chunk_budget_never_keeps_fewer_tokens_in_all():
    probs = _rows(13, count=20)
    totals = [compact_rows(probs, top_k=400, kl_budget=b, scope="chunk")[3].sum() for b in (1e-1, 1e-2, 3e-3, 1e-3)]
    assert all(tighter > looser for looser, tighter in zip(totals, totals[1:]))


def test_a_chunk_budget_out_of_reach_keeps_top_k_wherever_float16_can_store_it():
    probs = _rows(14, count=10)
    kept = compact_rows(probs, top_k=3, kl_budget=1e-9, scope="chunk")[3]
    storable = compaction.storable_counts(torch.topk(probs, 3, -1).values).numpy()
    assert np.all(kept == storable) and (storable == 3).sum() >= 5


def test_an_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="scope"):
        compact_rows(_rows(1, count=2), top_k=5, kl_budget=1e-3, scope="row")


@pytest.mark.parametrize("scope", ["chunk", "position"])
def test_no_rule_keeps_a_token_float16_would_store_as_zero(scope):
    """A budget out of reach would keep the long tail; below FLOAT16_TINY the stored float16 is 0, which
    would rule the token out (an unbounded KL term). The tail stays in the residual, and the stored KL is finite."""
    tail = torch.full((2, 497), compaction.FLOAT16_TINY / 4)
    head = torch.tensor([[0.5, 0.3], [0.6, 0.2]])
    probs = torch.cat([head, (1 - head.sum(-1, keepdim=True) - tail.sum(-1, keepdim=True)), tail], dim=-1)
    ids, values, residual, kept = compact_rows(probs, top_k=400, kl_budget=1e-15, scope=scope)
    assert np.all(kept == 3)
    stored = stored_kl(probs.numpy(), ids, values, residual, kept)
    assert np.all(stored < 1e-6)


def test_tail_probabilities_keep_float16s_relative_precision():
    """Stored as float16 of p x 2^14, a probability of 1e-7 (a typical kept tail token, far below float16's
    normal range) keeps 11 significant bits; plain float16 would round it by up to 30%."""
    tail = np.array([1.0e-7, 3.3e-8, 2.0e-9, 5.0e-6], dtype=np.float32)
    back = compaction.from_stored(compaction.to_stored(tail))
    assert np.all(np.abs(back - tail) <= 2.0 ** -11 * tail)
    assert np.abs(tail[:2].astype(np.float16).astype(np.float32) - tail[:2]).max() > 2.0 ** -5 * tail[1]
