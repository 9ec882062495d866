"""Loss functions shared by the unlearning methods (pure tensor code, unit-tested).

The losses read the model's logits only where a loss needs them: at the positions whose next token is
labelled (`Predictions`), or at the teacher's stored positions (`mean_positional_kl`). The methods get
exactly those rows from the model (methods/base.py), so no full (batch, length, vocabulary) array, nor
its log-softmax copies, is ever built for positions no loss reads (prompts, padding).
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint


def next_token_mask(labels: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: the positions whose next token is labelled (what a causal-LM loss reads)."""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != -100
    return mask


@dataclass
class Predictions:
    """A batch's logits at the positions that predict a labelled token, flattened row by row,
    with the token each predicts and the sequence it belongs to."""

    logits: torch.Tensor  # (N, V)
    targets: torch.Tensor  # (N,)
    rows: torch.Tensor  # (N,)
    batch_size: int

    @classmethod
    def of(cls, logits: torch.Tensor, labels: torch.Tensor) -> "Predictions":
        """From logits at exactly the positions of next_token_mask(labels), in its row-major order
        (N, V), or from full (B, L, V) logits."""
        mask = next_token_mask(labels)
        if logits.dim() == 3:
            logits = logits[mask]
        shifted = labels[:, 1:]
        return cls(logits, shifted[shifted != -100], mask.nonzero(as_tuple=True)[0], len(labels))

    def nll(self) -> torch.Tensor:
        """(N,) the negative log-likelihood of each labelled token."""
        return F.cross_entropy(self.logits.float(), self.targets, reduction="none")

    def per_sequence(self, values: torch.Tensor) -> torch.Tensor:
        """(B,) the sum of per-token `values` (N,) over each sequence."""
        return values.new_zeros(self.batch_size).index_add(0, self.rows, values)


def sequence_nll(predictions: Predictions) -> torch.Tensor:
    """Summed NLL of each sequence's labelled tokens (B,)."""
    return predictions.per_sequence(predictions.nll())


def mean_token_nll(predictions: Predictions) -> torch.Tensor:
    """The causal-LM loss: mean NLL over every labelled token of the batch."""
    return predictions.nll().sum() / max(len(predictions.targets), 1)


def npo_loss(nll_model: torch.Tensor, nll_reference: torch.Tensor, beta: float) -> torch.Tensor:
    """Negative preference optimisation: -(2/beta) * mean log sigmoid(beta * (NLL_theta - NLL_ref))."""
    return -(2.0 / beta) * F.logsigmoid(beta * (nll_model - nll_reference)).mean()


def compact_kl(student_logits: torch.Tensor, topk_ids: torch.Tensor, topk_probs: torch.Tensor,
               residual: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) per position, with the teacher given as top-k + residual mass.

    student_logits (P, V); topk_ids/topk_probs (P, K); residual (P,). The residual is compared
    with the student's total mass outside the top-k ids, so with residual 0 this equals the
    full-vocabulary KL exactly, and otherwise it never exceeds it.
    """
    log_q = torch.log_softmax(student_logits.float(), dim=-1)
    index = topk_ids.long()
    log_q_top = log_q.gather(-1, index)
    # The student's mass outside the kept ids. Masked with the most negative float, not -inf: where a
    # row keeps every id, -inf would make the logsumexp's gradient NaN (times a residual of 0).
    outside = log_q.scatter(-1, index, torch.finfo(log_q.dtype).min)
    log_q_rest = torch.logsumexp(outside, dim=-1)
    p, r = topk_probs.float(), residual.float()
    with torch.no_grad():  # the teacher's own p log p: a constant, built without a graph
        teacher_terms = torch.xlogy(p, p).sum(-1) + torch.xlogy(r, r)
    return teacher_terms - (p * log_q_top).sum(-1) - r * log_q_rest


def teacher_position_mask(batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The stored positions of a batch: (B, L) bool mask of them, and for each stored entry of
    "position_mask" (row-major) its sequence and its position in the text."""
    rows, cols = batch["position_mask"].nonzero(as_tuple=True)
    at = batch["positions"][rows, cols].long()
    mask = torch.zeros(batch["input_ids"].shape, dtype=torch.bool, device=at.device)
    mask[rows, at] = True
    return mask, rows, at


def logits_at_positions(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """(N, V) the rows of full (B, L, V) logits at the batch's stored positions (position_mask order)."""
    _, rows, at = teacher_position_mask(batch)
    return logits[rows, at]


KL_BLOCK = 128  # positions per block of mean_positional_kl: ~25 MB per full-vocabulary copy at 49k tokens


def mean_positional_kl(position_logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean over sequences of the mean KL(target || model) over each sequence's stored positions.

    batch holds, per sequence, the positions whose next-token distribution is a target
    ("positions", "position_mask") and that distribution as top-k ids/probs + residual mass:
    the intervention teacher, or the original model on a retain text (the KL retain loss).
    position_logits (N, V) are the model's logits at those positions, in position_mask's row-major
    order (methods/base.py: teacher_position_logits; logits_at_positions from full logits).
    """
    valid = batch["position_mask"]
    rows, cols = valid.nonzero(as_tuple=True)

    def block_kl(start: int, logits: torch.Tensor) -> torch.Tensor:
        at = rows[start:start + len(logits)], cols[start:start + len(logits)]
        return compact_kl(logits, batch["topk_ids"][at], batch["topk_probs"][at], batch["residual"][at])

    # A block of positions at a time, each recomputed in the backward: the full-vocabulary temporaries
    # (log-softmax, the masked copy, their gradients) and the teacher rows gathered for them then exist
    # for one block, not for the whole batch.
    blocks = [(start, position_logits[start:start + KL_BLOCK]) for start in range(0, len(rows), KL_BLOCK)]
    if torch.is_grad_enabled() and position_logits.requires_grad:
        parts = [checkpoint(block_kl, start, logits, use_reentrant=False) for start, logits in blocks]
    else:
        parts = [block_kl(start, logits) for start, logits in blocks]
    per_position = torch.cat(parts) if parts else position_logits.new_zeros(0)
    per_sequence = torch.zeros(len(valid), device=position_logits.device).index_add(0, rows, per_position)
    return (per_sequence / valid.sum(-1).clamp(min=1)).mean()


def simnpo_loss(nll_model: torch.Tensor, n_tokens: torch.Tensor, beta: float, margin: float) -> torch.Tensor:
    """SimNPO (Fan et al., 2024): NPO without a reference model, length-normalised, with a margin.

    -(2/beta) * mean log sigmoid(beta * NLL_theta(y|x) / |y| - margin)
    """
    return -(2.0 / beta) * F.logsigmoid(beta * nll_model / n_tokens.clamp(min=1) - margin).mean()


def dpo_loss(nll_preferred: torch.Tensor, nll_preferred_reference: torch.Tensor, nll_rejected: torch.Tensor,
             nll_rejected_reference: torch.Tensor, beta: float) -> torch.Tensor:
    """DPO (Rafailov et al., 2023) with the reference log-likelihoods given as NLLs:

    -(2/beta) * mean log sigmoid(beta * [(NLL_ref(y_w) - NLL_theta(y_w)) - (NLL_ref(y_l) - NLL_theta(y_l))])
    (the 2/beta scale as NPO's, so both read on the same scale)
    """
    margin = (nll_preferred_reference - nll_preferred) - (nll_rejected_reference - nll_rejected)
    return -(2.0 / beta) * F.logsigmoid(beta * margin).mean()


def weighted_ascent_loss(predictions: Predictions, beta: float) -> torch.Tensor:
    """WGA (Wang et al., 2025): gradient ascent with each token weighted by the model's own
    probability of it, p^beta (no gradient through the weight), so tokens already forgotten stop
    pulling: -mean_t [p_t^beta * NLL_t] over labelled tokens."""
    nll = predictions.nll()
    weight = torch.exp(-nll.detach()) ** beta
    return -(weight * nll).mean()


def satimp_loss(predictions: Predictions, beta1: float, beta2: float) -> torch.Tensor:
    """SatImp (Yang et al., 2025): gradient ascent weighted by saturation p^beta1 times importance
    (1 - p)^beta2 (no gradient through the weight): -mean_t [p_t^beta1 (1 - p_t)^beta2 * NLL_t]."""
    nll = predictions.nll()
    p = torch.exp(-nll.detach())
    return -((p ** beta1) * (1 - p) ** beta2 * nll).mean()


def ceu_loss(predictions: Predictions) -> torch.Tensor:
    """CE-U (Yang et al., 2025): cross-entropy against the model's own distribution with the true
    token's logit masked out (no gradient through the target), mean over labelled tokens:

    mean_t H(softmax(z_t with z_t[y_t] = -inf), softmax(z_t)), z_t the logits predicting y_t.
    """
    rows, targets = predictions.logits.float(), predictions.targets
    masked = rows.detach().scatter(-1, targets[:, None], float("-inf"))
    return F.cross_entropy(rows, torch.softmax(masked, dim=-1))


def activation_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU's representation loss: per sequence, the mean over masked tokens of the mean squared
    difference over hidden dimensions; then the mean over sequences. hidden/target (B, T, H), mask (B, T)."""
    per_token = ((hidden.float() - target.float()) ** 2).mean(-1) * mask
    return (per_token.sum(-1) / mask.sum(-1).clamp(min=1)).mean()
