"""Causal intervention (the paper's method): token-level KL to the averaged counterfactual teacher."""

import torch

from causal_unlearn.unlearn.items import ForgetContext, teacher_items
from causal_unlearn.unlearn.losses import mean_positional_kl
from causal_unlearn.unlearn.methods.base import Method, teacher_position_logits


class Intervention(Method):
    name = "intervention"
    uses_teacher = True

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return teacher_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        """Mean over chunks of the mean KL(teacher || student) over each chunk's trained positions."""
        return mean_positional_kl(teacher_position_logits(model, batch), batch)
