"""Compact next-token distributions: top tokens kept while each one still buys fidelity.

A row is stored as its top tokens (ids and probabilities) plus the residual mass of all the
others. Read back, the residual is spread evenly over the tokens not stored, so the error of
the compact form is exactly

    KL(p || compact) = sum_{i not kept} p_i log(p_i (V - k) / r),   r = sum_{i not kept} p_i

which can be computed for every k at once from prefix sums over the sorted row. Tokens are
added in order of probability while the next one lowers that KL by at least `min_gain` nats
(at most `top_k` tokens). One threshold for all rows spends the storage where it buys the most:
a peaked row keeps a handful of tokens, a flat one (a small model unsure of the next word, or
the mean of N teachers that disagree) keeps hundreds. `min_gain=0` keeps exactly `top_k`.
Probabilities are kept at float16 precision (what the artifact stores) except the top one, which
is what the others and the residual leave of 1, so every row sums to 1.

Rows of different lengths are padded to the longest with probability 0 and the row's own first
id, so a padded entry repeats a kept token and changes no loss (losses.compact_kl).
"""

import numpy as np
import torch


def kl_by_kept_count(probs: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """(P, K) float64: KL(row || compact row keeping the first k+1 sorted tokens), for k in 0..K-1.

    probs (P, V) are the full rows; top (P, K) their K largest values, sorted descending.
    """
    rows = probs.double()
    kept = top.double()
    total_plogp = torch.xlogy(rows, rows).sum(-1, keepdim=True)
    tail_plogp = total_plogp - torch.xlogy(kept, kept).cumsum(-1)
    # Rounding can leave a tiny negative value.
    return (tail_plogp + _residual_terms(rows.sum(-1), kept, rows.shape[-1])).clamp(min=0.0)


def _residual_terms(total_mass: torch.Tensor, kept: torch.Tensor, vocab: int) -> torch.Tensor:
    """(P, K): r log(V - k) - r log r for k = 1..K kept tokens, r the mass left outside them.

    With the tail's sum of p log p, this is the KL of the compact row (the residual spread evenly).
    """
    residual = (total_mass[:, None] - kept.cumsum(-1)).clamp(min=0.0)
    not_kept = vocab - torch.arange(1, kept.shape[-1] + 1, dtype=torch.float64, device=kept.device)
    return residual * torch.log(not_kept) - torch.xlogy(residual, residual)


def gain_of_next_token(total_mass: torch.Tensor, top: torch.Tensor, vocab: int) -> torch.Tensor:
    """(P, K-1) float64: how much keeping sorted token j+2 lowers the KL after keeping j+1 tokens.

    The difference of consecutive kl_by_kept_count columns, in closed form: the row's sum of
    p log p cancels out, so only the (P,) total masses are needed, not another pass over the
    full rows.
    """
    kept = top.double()
    terms = _residual_terms(total_mass, kept, vocab)
    return torch.xlogy(kept[:, 1:], kept[:, 1:]) + terms[:, :-1] - terms[:, 1:]


FIRST_PASS = 256  # most rows stop well before this many tokens; only the others are looked at further


def _kept_counts(total_mass: torch.Tensor, values: torch.Tensor, vocab: int,
                 min_gain: float) -> tuple[torch.Tensor, torch.Tensor]:
    """How many of the sorted `values` each row keeps, and whether the row stopped before their end."""
    too_little = gain_of_next_token(total_mass, values, vocab) < min_gain  # token j+2 is not worth it
    stopped = too_little.any(-1)
    # Keep j+1 tokens, j the first column where the next token is not worth it; else all of them.
    counts = torch.where(stopped, too_little.float().argmax(-1) + 1,
                         torch.full((len(values),), values.shape[-1], dtype=torch.long, device=values.device))
    return counts, stopped


def _top_tokens(probs: torch.Tensor, k: int, min_gain: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids, values) of each row's top tokens, sorted, at least as wide as any row keeps; the counts."""
    if min_gain <= 0 or k == 1:
        top = torch.topk(probs, k, dim=-1)
        return top.indices, top.values, torch.full((len(probs),), k, dtype=torch.long, device=probs.device)
    vocab = probs.shape[-1]
    total_mass = probs.sum(-1, dtype=torch.float64)
    first = min(k, FIRST_PASS)
    top = torch.topk(probs, first, dim=-1)
    counts, stopped = _kept_counts(total_mass, top.values, vocab, min_gain)
    if first == k or bool(stopped.all()):
        return top.indices, top.values, counts
    # Flat rows need more than the first pass: the same rule over the full top_k, for them only.
    longer = (~stopped).nonzero().squeeze(-1)
    wide = torch.topk(probs[longer], k, dim=-1)
    counts[longer], _ = _kept_counts(total_mass[longer], wide.values, vocab, min_gain)
    width = int(counts.max())
    ids = torch.zeros((len(probs), width), dtype=torch.long, device=probs.device)
    values = torch.zeros((len(probs), width), dtype=probs.dtype, device=probs.device)
    ids[:, :first], values[:, :first] = top.indices[:, :width], top.values[:, :width]
    ids[longer], values[longer] = wide.indices[:, :width], wide.values[:, :width]
    return ids, values, counts


def compact_rows(probs: torch.Tensor, top_k: int, min_gain: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Compact (P, V) probability rows (on any device; the results come back as host arrays).

    Returns ids int32 (P, K) and probabilities float32 (P, K) padded to the longest row's K, the
    residual mass float32 (P,), and how many tokens each row keeps, int32 (P,).
    """
    top_ids, top_values, counts = _top_tokens(probs.float(), min(top_k, probs.shape[-1]), min_gain)
    width = int(counts.max()) if len(counts) else 0
    keep = torch.arange(width, device=probs.device)[None, :] < counts[:, None]
    ids = torch.where(keep, top_ids[:, :width], top_ids[:, :1])
    exact = torch.where(keep, top_values[:, :width], top_values.new_zeros(()))
    # The mass outside, summed directly: a difference of sums would lose a peaked row's tiny tail.
    # (float32 entries summed in float64, without a float64 copy of the full rows.)
    residual = probs.float().scatter(-1, ids, 0.0).sum(-1, dtype=torch.float64).float().cpu().numpy()
    values = exact.half().float().cpu().numpy()
    values[:, 0] = first_probability(values, residual)
    return ids.cpu().numpy().astype(np.int32), values, residual, counts.cpu().numpy().astype(np.int32)


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
