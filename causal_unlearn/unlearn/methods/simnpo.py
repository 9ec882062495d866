"""SimNPO (Fan et al., 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for
LLM Unlearning"): NPO without the reference model, on the length-normalised log-likelihood, with a
margin:

    L = -(2/beta) * mean_i log sigmoid(beta * NLL_theta(y_i|x_i) / |y_i| - margin)

Defaults (simnpo.beta 4.5, simnpo.margin 0) are the authors' TOFU settings. No reference pass:
nothing is precomputed.
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import sequence_nll, simnpo_loss
from causal_unlearn.unlearn.methods.base import Method, predictions


class SimNPO(Method):
    name = "simnpo"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.beta, self.margin = ctx.cfg.simnpo.beta, ctx.cfg.simnpo.margin
        return text_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        n_tokens = (batch["labels"][:, 1:] != -100).sum(-1)
        return simnpo_loss(sequence_nll(predictions(model, batch)), n_tokens, self.beta, self.margin)
