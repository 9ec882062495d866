"""What every unlearning method provides (see __init__.py for the registry), and how a method reads
the model's logits: only at the positions its loss needs (losses.py), never the full
(batch, length, vocabulary) array."""

import torch

from causal_unlearn.unlearn.items import ForgetContext
from causal_unlearn.unlearn.losses import Predictions, next_token_mask, teacher_position_mask


def logits_where(model, batch: dict, mask: torch.Tensor) -> torch.Tensor:
    """(N, V) the model's logits at the True positions of a (B, L) bool mask, row-major.

    The model applies its head to those positions only (transformers' `logits_to_keep` with a boolean
    mask), inside its own forward, so any final-logit scaling it does still applies. A model that
    ignores the argument returns every position; then the rows are picked here.
    """
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=mask).logits
    return logits[mask] if logits.dim() == 3 else logits


def predictions(model, batch: dict) -> Predictions:
    """The model's logits at every position that predicts a labelled token of the batch."""
    return Predictions.of(logits_where(model, batch, next_token_mask(batch["labels"])), batch["labels"])


def teacher_position_logits(model, batch: dict) -> torch.Tensor:
    """(N, V) the model's logits at the batch's stored teacher positions, in position_mask's
    row-major order (what losses.mean_positional_kl reads)."""
    mask, rows, at = teacher_position_mask(batch)
    unique_rows = logits_where(model, batch, mask)
    row_of = mask.flatten().cumsum(0) - 1  # flat position -> its row in unique_rows
    return unique_rows[row_of[rows * mask.shape[1] + at]]


class Method:
    name = "base"
    uses_teacher = False  # reads the teacher artifact built by teacher.py

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        """The training items (token ids and whatever the loss needs), one per forget example."""
        raise NotImplementedError

    def prepare(self, model, items: list[dict], ctx: ForgetContext) -> None:
        """Work done once before training with the initial model (e.g. NPO's reference NLLs)."""

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        raise NotImplementedError

    def retain_loss(self, model, batch: dict) -> torch.Tensor | None:
        """The method's own retain loss on a retain batch; None: the Trainer's (retain_loss=ce or kl)."""
        return None
