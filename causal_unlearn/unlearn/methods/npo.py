"""Negative preference optimisation on the forget texts.

The reference log-likelihoods come from the initial model. By default they are computed once
before training, so only one model sits in memory; `npo_reference=model` keeps a frozen copy
instead and scores every batch with it (the original's two-model path).
"""

import copy

import torch

from causal_unlearn.unlearn.items import ForgetContext, attach_reference_nll, text_items
from causal_unlearn.unlearn.losses import npo_loss, sequence_nll
from causal_unlearn.unlearn.methods.base import Method, predictions


class NPO(Method):
    name = "npo"

    def __init__(self):
        self.beta = 0.1
        self.reference_model = None

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.beta = ctx.cfg.beta
        return text_items(ctx)

    @torch.no_grad()
    def prepare(self, model, items: list[dict], ctx: ForgetContext) -> None:
        if ctx.cfg.npo_reference == "model":
            self.reference_model = copy.deepcopy(model).eval().requires_grad_(False)
            return
        attach_reference_nll(model, items)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        nll = sequence_nll(predictions(model, batch))
        if self.reference_model is not None:
            with torch.no_grad():
                reference_nll = sequence_nll(predictions(self.reference_model, batch))
        else:
            reference_nll = batch["reference_nll"]
        return npo_loss(nll, reference_nll, self.beta)
