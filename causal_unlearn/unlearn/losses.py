"""Loss functions shared by the unlearning methods (pure tensor code, unit-tested)."""

import torch
import torch.nn.functional as F


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token negative log-likelihood (B, L-1) with causal shift; 0 where labels are -100."""
    shifted_logits, shifted_labels = logits[:, :-1].float(), labels[:, 1:]
    nll = F.cross_entropy(shifted_logits.transpose(1, 2), shifted_labels.clamp(min=0), reduction="none")
    return nll * (shifted_labels != -100)


def sequence_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Summed NLL of each sequence's labelled tokens (B,)."""
    return token_nll(logits, labels).sum(-1)


def mean_token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The causal-LM loss: mean NLL over every labelled token of the batch."""
    nll = token_nll(logits, labels)
    return nll.sum() / (labels[:, 1:] != -100).sum().clamp(min=1)


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
    log_q_top = log_q.gather(-1, topk_ids.long())
    outside = log_q.scatter(-1, topk_ids.long(), float("-inf"))
    log_q_rest = torch.logsumexp(outside, dim=-1)
    p = topk_probs.float()
    top_terms = torch.where(p > 0, p * (torch.log(p.clamp(min=1e-30)) - log_q_top), torch.zeros_like(p)).sum(-1)
    r = residual.float()
    rest_term = torch.where(r > 0, r * (torch.log(r.clamp(min=1e-30)) - log_q_rest), torch.zeros_like(r))
    return top_terms + rest_term


def mean_positional_kl(logits: torch.Tensor, batch: dict) -> torch.Tensor:
    """Mean over sequences of the mean KL(target || model) over each sequence's stored positions.

    batch holds, per sequence, the positions whose next-token distribution is a target
    ("positions", "position_mask") and that distribution as top-k ids/probs + residual mass:
    the intervention teacher, or the original model on a retain text (the KL retain loss).
    """
    valid = batch["position_mask"]
    rows, cols = valid.nonzero(as_tuple=True)
    per_position = compact_kl(logits[rows, batch["positions"][rows, cols]], batch["topk_ids"][rows, cols],
                              batch["topk_probs"][rows, cols], batch["residual"][rows, cols])
    per_sequence = torch.zeros(len(valid), device=logits.device).index_add(0, rows, per_position)
    return (per_sequence / valid.sum(-1).clamp(min=1)).mean()


def _labelled_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The NLL of every labelled token of the batch, flattened (N,), with causal shift."""
    return token_nll(logits, labels)[labels[:, 1:] != -100]


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


def weighted_ascent_loss(logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """WGA (Wang et al., 2025): gradient ascent with each token weighted by the model's own
    probability of it, p^beta (no gradient through the weight), so tokens already forgotten stop
    pulling: -mean_t [p_t^beta * NLL_t] over labelled tokens."""
    nll = _labelled_nll(logits, labels)
    weight = torch.exp(-nll.detach()) ** beta
    return -(weight * nll).mean()


def satimp_loss(logits: torch.Tensor, labels: torch.Tensor, beta1: float, beta2: float) -> torch.Tensor:
    """SatImp (Yang et al., 2025): gradient ascent weighted by saturation p^beta1 times importance
    (1 - p)^beta2 (no gradient through the weight): -mean_t [p_t^beta1 (1 - p_t)^beta2 * NLL_t]."""
    nll = _labelled_nll(logits, labels)
    p = torch.exp(-nll.detach())
    return -((p ** beta1) * (1 - p) ** beta2 * nll).mean()


def ceu_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """CE-U (Yang et al., 2025): cross-entropy against the model's own distribution with the true
    token's logit masked out (no gradient through the target), mean over labelled tokens:

    mean_t H(softmax(z_t with z_t[y_t] = -inf), softmax(z_t)), z_t the logits predicting y_t.
    """
    shifted_logits, shifted_labels = logits[:, :-1].float(), labels[:, 1:]
    valid = shifted_labels != -100
    rows, targets = shifted_logits[valid], shifted_labels[valid]
    masked = rows.detach().scatter(-1, targets[:, None], float("-inf"))
    return F.cross_entropy(rows, torch.softmax(masked, dim=-1))


def activation_mse(hidden: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """RMU's representation loss: per sequence, the mean over masked tokens of the mean squared
    difference over hidden dimensions; then the mean over sequences. hidden/target (B, T, H), mask (B, T)."""
    per_token = ((hidden.float() - target.float()) ** 2).mean(-1) * mask
    return (per_token.sum(-1) / mask.sum(-1).clamp(min=1)).mean()
