"""SatImp (Yang et al., 2025, "Exploring Criteria of Loss Reweighting to Enhance LLM Unlearning"):
gradient ascent with token weights that combine saturation (p^beta1, tokens still known) and
importance ((1 - p)^beta2):

    L = -mean_t [ p_t^beta1 * (1 - p_t)^beta2 * NLL_theta(y_t) ],   p_t = p_theta(y_t)  (weights without gradient)

Defaults satimp.beta1 5, satimp.beta2 1 (the paper's).
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import satimp_loss
from causal_unlearn.unlearn.methods.base import Method, predictions


class SatImp(Method):
    name = "satimp"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.beta1, self.beta2 = ctx.cfg.satimp.beta1, ctx.cfg.satimp.beta2
        return text_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return satimp_loss(predictions(model, batch), self.beta1, self.beta2)
