"""CE-U, cross-entropy unlearning (Yang et al., 2025, "CE-U: Cross Entropy Unlearning"): at every
forget token, train towards the model's own next-token distribution with the true token masked out:

    L = mean_t H( softmax(z_t with z_t[y_t] = -inf), softmax(z_t) )     (no gradient through the target)

Unlike gradient ascent its gradient vanishes once the true token's probability reaches 0, so it
does not diverge. No hyperparameters.
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import ceu_loss
from causal_unlearn.unlearn.methods.base import Method, predictions


class CEU(Method):
    name = "ceu"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return text_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return ceu_loss(predictions(model, batch))
