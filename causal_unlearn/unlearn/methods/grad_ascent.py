"""Gradient ascent: maximise the forget texts' NLL."""

import torch

from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import mean_token_nll
from causal_unlearn.unlearn.methods.base import Method, predictions


class GradAscent(Method):
    name = "grad_ascent"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return text_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return -mean_token_nll(predictions(model, batch))
