"""Compact next-token distributions: per row, the fewest top tokens that meet a fidelity budget.

A row is stored as its top tokens (ids and probabilities) plus the residual mass of all the
others. Read back, the residual is spread evenly over the tokens not stored, so the error of
the compact form is exactly

    KL(p || compact) = sum_{i not kept} p_i log(p_i (V - k) / r),   r = sum_{i not kept} p_i

which can be computed for every k at once from prefix sums over the sorted row. Two ways to
spend a budget of `kl_budget` nats (at most `top_k` tokens per row either way):

- scope "position": each row keeps the fewest tokens that bring its own KL under the budget. A
  peaked row keeps a handful, a flat one (a small model unsure of the next word, or the mean of N
  teachers that disagree) as many as the budget needs, often thousands.
- scope "chunk" (the default): the rows compacted together (one chunk's positions) keep the fewest
  tokens in all that bring their mean KL under the budget. Tokens go where they lower the KL most:
  every row keeps each token whose gain (the KL it removes) is at least one threshold, chosen by
  bisection as the largest that meets the mean. That is the byte-optimal split of a mean budget
  (where gains fall along a row, as they do for sorted probabilities), so a flat row no longer
  keeps thousands of tokens that each remove almost nothing.

Either way the fidelity is fixed and the storage varies, and neither rule keeps a token below
what the stored float16 can hold (it would be stored as 0; the residual covers it). `kl_budget=0`
keeps exactly `top_k`.
Probabilities are kept at the precision the artifact stores: float16 of p x 2^14. Tail probabilities
sit far below float16's normal range (6e-5), where plain float16 keeps few significant bits; that
rounding alone cost 5e-6 nats per position on the embedded world, and the scale removes it at no
cost (p <= 1 is at most 16384, within float16's range). The top probability is instead what the
others and the residual leave of 1, so every row sums to 1.
Each row holds its top token first, then the rest in ascending id order: the order the artifact
stores them in (ids as small steps, artifact.py).

Rows of different lengths are padded to the longest with probability 0 and the row's own first
id, so a padded entry repeats a kept token and changes no loss (losses.compact_kl).
"""

import numpy as np
import torch


def kl_by_kept_count(probs: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """(P, K) float64: KL(row || compact row keeping the first k+1 sorted tokens), for k in 0..K-1.

    probs (P, V) are the full rows; top (P, K) their K largest values, sorted descending.
    """
    return _kl_curve(_sum_plogp(probs), probs.sum(-1, dtype=torch.float64), top, probs.shape[-1])


ROWS_PER_BLOCK = 64  # float64 copies of this many full rows at a time (~25 MB at a 49k vocabulary)


def _sum_plogp(probs: torch.Tensor) -> torch.Tensor:
    """(P,) float64: each row's sum of p log p, in float64 (the budget is compared against
    differences of this sum, so float32 terms would blur budgets below ~1e-6), a block at a time."""
    sums = [torch.xlogy(block.double(), block.double()).sum(-1) for block in probs.split(ROWS_PER_BLOCK)]
    return torch.cat(sums) if sums else probs.new_zeros(0, dtype=torch.float64)


def _kl_curve(total_plogp: torch.Tensor, total_mass: torch.Tensor, top: torch.Tensor, vocab: int) -> torch.Tensor:
    """kl_by_kept_count from each row's sums alone: the full rows are read once, not per k."""
    kept = top.double()
    tail_plogp = total_plogp[:, None] - torch.xlogy(kept, kept).cumsum(-1)
    # Rounding can leave a tiny negative value.
    return (tail_plogp + _residual_terms(total_mass, kept, vocab)).clamp(min=0.0)


def _residual_terms(total_mass: torch.Tensor, kept: torch.Tensor, vocab: int) -> torch.Tensor:
    """(P, K): r log(V - k) - r log r for k = 1..K kept tokens, r the mass left outside them.

    With the tail's sum of p log p, this is the KL of the compact row (the residual spread evenly).
    """
    residual = (total_mass[:, None] - kept.cumsum(-1)).clamp(min=0.0)
    not_kept = vocab - torch.arange(1, kept.shape[-1] + 1, dtype=torch.float64, device=kept.device)
    return residual * torch.log(not_kept) - torch.xlogy(residual, residual)


FIRST_PASS = 256  # most rows meet the budget well before this many tokens; only the others are looked at further


def _kept_counts(sums: tuple[torch.Tensor, torch.Tensor], values: torch.Tensor, vocab: int,
                 kl_budget: float) -> tuple[torch.Tensor, torch.Tensor]:
    """How many of the sorted `values` each row keeps, and whether the row met the budget within them."""
    within = _kl_curve(*sums, values, vocab) <= kl_budget  # column j: keeping j+1 tokens is enough
    met = within.any(-1)
    counts = torch.where(met, within.float().argmax(-1) + 1,
                         torch.full((len(values),), values.shape[-1], dtype=torch.long, device=values.device))
    return counts, met


SCOPES = ("chunk", "position")
# Probabilities are stored as float16 of p x FLOAT16_SCALE (module docstring).
FLOAT16_SCALE = 2.0 ** 14
# The smallest probability the stored float16 holds. A kept token below it would be stored as 0: the
# stored row would then rule out a token the full row allows (an unbounded KL term), and the loss would
# not pull the student towards it. So no rule keeps such a token; the residual covers it.
FLOAT16_TINY = 2.0 ** -24 / FLOAT16_SCALE


def to_stored(probs: np.ndarray) -> np.ndarray:
    """Probabilities as the artifact's float16 (scaled)."""
    return (probs.astype(np.float32) * np.float32(FLOAT16_SCALE)).astype(np.float16)


def from_stored(stored: np.ndarray) -> np.ndarray:
    """The artifact's float16 back to float32 probabilities."""
    return stored.astype(np.float32) / np.float32(FLOAT16_SCALE)


# The rules meet the budget on exact values; the stored float16 values (relative error 2^-12) add about
# 1e-9 nats, which can tip a mean that lands on the budget just over it. So the rules aim this much under.
ROUNDING_MARGIN = 1 - 1e-4


def storable_counts(values: torch.Tensor) -> torch.Tensor:
    """(P,) how many of each row's sorted values float16 can store as non-zero (at least 1)."""
    return (values >= FLOAT16_TINY).sum(-1).clamp(min=1)


def _within_storable(curve: torch.Tensor, storable: torch.Tensor) -> torch.Tensor:
    """The KL curve flat from each row's last storable token on: keeping more removes nothing."""
    columns = torch.arange(curve.shape[-1], device=curve.device)[None, :]
    return torch.where(columns < storable[:, None], curve, curve.gather(1, (storable - 1)[:, None]))


BISECTION_STEPS = 60  # on the log of the gain threshold: far finer than any two gains differ


def counts_for_mean_budget(curve: torch.Tensor, kl_budget: float) -> torch.Tensor:
    """(P,) kept counts with the fewest tokens in all whose mean KL is at most `kl_budget`.

    curve (P, K): each row's KL when it keeps 1..K of its sorted tokens. A row keeps every token up
    to the last whose gain (curve[j-1] - curve[j]) is at least a threshold; the threshold is the
    largest that meets the mean (bisection). When even K tokens everywhere miss it, every row keeps K.
    """
    rows, width = curve.shape
    ones = torch.ones(rows, dtype=torch.long, device=curve.device)
    if width == 1 or float(curve[:, 0].mean()) <= kl_budget:
        return ones
    if float(curve[:, -1].mean()) > kl_budget:
        return torch.full_like(ones, width)
    gains = (curve[:, :-1] - curve[:, 1:]).clamp(min=0.0)  # column j: what keeping token j + 2 removes
    # The largest gain from column j on: token j + 2 is kept when it or any later token is worth
    # keeping, so a row keeps 1 + (how many columns reach the threshold) tokens. Read from the row's
    # end, that running best is ascending: a binary search per row instead of a pass over every
    # column at each bisection step.
    ascending = gains.flip(-1).cummax(-1).values.contiguous()

    def counts(threshold: float) -> torch.Tensor:
        reaching = ascending.shape[-1] - torch.searchsorted(ascending, torch.full_like(ascending[:, :1], threshold))
        return ones + reaching[:, 0]

    def mean_kl(kept: torch.Tensor) -> float:
        return float(curve.gather(1, (kept - 1)[:, None]).mean())

    # Above the largest gain every row keeps 1 token (too little); a threshold at the smallest positive
    # gain keeps every token that removes anything, which is as good as all K (enough).
    high, low = float(gains.max()), float(gains[gains > 0].min()) if bool((gains > 0).any()) else 0.0
    if low <= 0.0:
        return torch.full_like(ones, width)
    best = counts(low)
    log_low, log_high = np.log(low), np.log(high)
    for _ in range(BISECTION_STEPS):
        middle = 0.5 * (log_low + log_high)
        kept = counts(float(np.exp(middle)))
        if mean_kl(kept) <= kl_budget:
            best, log_low = kept, middle
        else:
            log_high = middle
    return best


def _top_tokens(probs: torch.Tensor, k: int, kl_budget: float,
                scope: str = "chunk") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, values) of each row's top tokens, sorted, at least as wide as any row keeps; the counts."""
    if kl_budget <= 0 or k == 1:
        top = torch.topk(probs, k, dim=-1)
        return top.indices, top.values, torch.full((len(probs),), k, dtype=torch.long, device=probs.device)
    vocab = probs.shape[-1]
    sums = (_sum_plogp(probs), probs.sum(-1, dtype=torch.float64))
    if scope == "chunk":  # the split of the budget depends on every row's whole curve
        top = torch.topk(probs, k, dim=-1)
        storable = storable_counts(top.values)
        curve = _within_storable(_kl_curve(*sums, top.values, vocab), storable)
        counts = torch.minimum(counts_for_mean_budget(curve, kl_budget), storable)
        width = int(counts.max())
        return top.indices[:, :width], top.values[:, :width], counts
    first = min(k, FIRST_PASS)
    top = torch.topk(probs, first, dim=-1)
    counts, met = _kept_counts(sums, top.values, vocab, kl_budget)
    counts = torch.minimum(counts, storable_counts(top.values))
    if first == k or bool(met.all()):
        return top.indices, top.values, counts
    # Flat rows need more than the first pass: the same rule over the full top_k, for them only.
    longer = (~met).nonzero().squeeze(-1)
    wide = torch.topk(probs[longer], k, dim=-1)
    longer_counts, _ = _kept_counts((sums[0][longer], sums[1][longer]), wide.values, vocab, kl_budget)
    counts[longer] = torch.minimum(longer_counts, storable_counts(wide.values))
    width = int(counts.max())
    ids = torch.zeros((len(probs), width), dtype=torch.long, device=probs.device)
    values = torch.zeros((len(probs), width), dtype=probs.dtype, device=probs.device)
    ids[:, :first], values[:, :first] = top.indices[:, :width], top.values[:, :width]
    ids[longer], values[longer] = wide.indices[:, :width], wide.values[:, :width]
    return ids, values, counts


def compact_rows(probs: torch.Tensor, top_k: int, kl_budget: float,
                 scope: str = "chunk") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compact (P, V) probability rows (on any device; the results come back as host arrays), the
    budget spent per `scope` ("chunk": the mean over these rows; "position": each row).

    Returns ids int32 (P, K) and probabilities float32 (P, K) padded to the longest row's K, the
    residual mass float32 (P,), and how many tokens each row keeps, int32 (P,).
    """
    if scope not in SCOPES:
        raise ValueError(f"kl_budget scope {scope!r} is not one of {SCOPES}")
    # A row built in float32 (the mean of N softmaxes) sums to 1 only within ~2e-5; the budget and the
    # recomputed top probability are about a distribution, so the row is made one first.
    probs = probs.float()
    probs = probs / probs.sum(-1, keepdim=True)
    top_ids, top_values, counts = _top_tokens(probs, min(top_k, probs.shape[-1]), kl_budget * ROUNDING_MARGIN, scope)
    width = int(counts.max()) if len(counts) else 0
    keep = torch.arange(width, device=probs.device)[None, :] < counts[:, None]
    ids, exact = _in_storage_order(torch.where(keep, top_ids[:, :width], top_ids[:, :1]),
                                   torch.where(keep, top_values[:, :width], top_values.new_zeros(())), keep)
    # The mass outside, summed directly: a difference of sums would lose a peaked row's tiny tail.
    # (float32 entries summed in float64, without a float64 copy of the full rows.)
    residual = probs.scatter(-1, ids, 0.0).sum(-1, dtype=torch.float64).float().cpu().numpy()
    values = from_stored(to_stored(exact.cpu().numpy()))
    values[:, 0] = first_probability(values, residual)
    return ids.cpu().numpy().astype(np.int32), values, residual, counts.cpu().numpy().astype(np.int32)


def _in_storage_order(ids: torch.Tensor, values: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows sorted by probability, reordered as stored: the top token first, the other kept ones by
    ascending id, the padding last."""
    if ids.shape[-1] <= 2:
        return ids, values
    rest_keys = torch.where(keep[:, 1:], ids[:, 1:], torch.iinfo(ids.dtype).max)
    order = torch.cat([torch.zeros_like(ids[:, :1]), 1 + rest_keys.argsort(dim=-1)], dim=-1)
    return ids.gather(1, order), values.gather(1, order)


def first_probability(values: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """The top token's probability as what the others and the residual leave of 1.

    Stored at float16, the largest probability would carry the largest rounding error and rows
    would not sum to 1; recomputed this way (here and when an artifact is read) they do.
    """
    return (1.0 - residual.astype(np.float64) - values[:, 1:].astype(np.float64).sum(-1)).astype(np.float32)


def pad_rows(ids: np.ndarray, probs: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Widen (P, K) compact rows to `width` columns the neutral way (first id repeated, probability 0)."""
    extra = width - ids.shape[-1]
    if extra <= 0:
        return ids, probs
    return (np.concatenate([ids, np.repeat(ids[:, :1], extra, axis=-1)], axis=-1),
            np.concatenate([probs, np.zeros((len(probs), extra), dtype=probs.dtype)], axis=-1))


def stored_kl(probs: np.ndarray, ids: np.ndarray, values: np.ndarray, residual: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Per row KL(probs || the stored row): kept values as stored, the residual spread evenly.

    probs (P, V) full rows; ids/values (P, K) the stored rows, of which the first kept[p] count.
    For checks and benchmarks: the full rows are needed.
    """
    full = probs.astype(np.float64)
    full /= full.sum(-1, keepdims=True)  # a float32 row sums to 1 only within ~2e-5 (compact_rows)
    stored = np.zeros_like(full)
    is_tail = np.ones_like(full, dtype=bool)
    for row, count in enumerate(kept):
        stored[row, ids[row, :count]] = values[row, :count]
        is_tail[row, ids[row, :count]] = False
    stored = np.where(is_tail, residual[:, None].astype(np.float64) / is_tail.sum(-1, keepdims=True), stored)
    # A tail below float32's range is stored as 0; count it at that range's floor, not as infinitely wrong.
    stored = np.maximum(stored, np.finfo(np.float32).smallest_subnormal)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(full > 0, full * np.log(full / stored), 0.0)
    return terms.sum(-1)
