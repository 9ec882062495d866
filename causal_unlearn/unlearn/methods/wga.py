"""WGA, weighted gradient ascent (Wang et al., 2025, "Rethinking LLM Unlearning Objectives: A
Gradient Perspective and Go Beyond"): each forget token's ascent is weighted by the model's own
probability of it, so tokens already forgotten stop pulling:

    L = -mean_t [ p_theta(y_t)^beta * NLL_theta(y_t) ]     (no gradient through the weight)

Default wga.beta 1 (the paper's).
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import weighted_ascent_loss
from causal_unlearn.unlearn.methods.base import Method, predictions


class WGA(Method):
    name = "wga"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.beta = ctx.cfg.wga.beta
        return text_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return weighted_ascent_loss(predictions(model, batch), self.beta)
