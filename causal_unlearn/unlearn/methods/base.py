"""What every unlearning method provides (see __init__.py for the registry)."""

import torch

from causal_unlearn.unlearn.items import ForgetContext


def batch_logits(model, batch: dict) -> torch.Tensor:
    """The model's logits on a padded batch of texts."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


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
