"""'I don't know': fine-tune the forget questions towards refusal answers."""

import torch

from causal_unlearn.unlearn.items import ForgetContext, refusal_items
from causal_unlearn.unlearn.losses import mean_token_nll
from causal_unlearn.unlearn.methods.base import Method, predictions


class IDontKnow(Method):
    name = "idk"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return refusal_items(ctx)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return mean_token_nll(predictions(model, batch))
