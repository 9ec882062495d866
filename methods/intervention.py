"""Causal intervention (the paper's method): token-level KL to the averaged counterfactual teacher."""

import torch

from forget_data import ForgetContext, teacher_items
from losses import compact_kl
from methods.base import Method


class Intervention(Method):
    name = "intervention"
    uses_teacher = True

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return teacher_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        """Mean over chunks of the mean KL(teacher || student) over each chunk's trained positions."""
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        valid = batch["position_mask"]
        rows, cols = valid.nonzero(as_tuple=True)
        per_position = compact_kl(logits[rows, batch["positions"][rows, cols]], batch["topk_ids"][rows, cols],
                                  batch["topk_probs"][rows, cols], batch["residual"][rows, cols])
        per_chunk = torch.zeros(len(valid), device=logits.device).index_add(0, rows, per_position)
        return (per_chunk / valid.sum(-1).clamp(min=1)).mean()
