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
