"""DPO on the forget questions (the TOFU "IdkDPO" setting; Rafailov et al., 2023): a refusal is the
preferred answer y_w, the gold answer the rejected one y_l:

    L = -(2/beta) * mean log sigmoid(beta * [(log p_theta(y_w) - log p_ref(y_w)) - (log p_theta(y_l) - log p_ref(y_l))])

The reference log-likelihoods come from the initial model, computed once before training (as NPO's),
so only one model sits in memory. Default dpo.beta 0.1 (TOFU's IdkDPO). Refusals come from
refusals_file, as for idk.
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, attach_reference_nll, preference_items
from causal_unlearn.unlearn.losses import dpo_loss, sequence_nll
from causal_unlearn.unlearn.methods.base import Method, predictions


class DPO(Method):
    name = "dpo"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.beta = ctx.cfg.dpo.beta
        return preference_items(ctx)

    def prepare(self, model, items: list[dict], ctx: ForgetContext) -> None:
        attach_reference_nll(model, items + [item["preferred"] for item in items])

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        """`batch` holds the rejected (gold) answers; the preferred ones come under batch["preferred"]."""
        preferred = batch["preferred"]
        return dpo_loss(sequence_nll(predictions(model, preferred)), preferred["reference_nll"],
                        sequence_nll(predictions(model, batch)), batch["reference_nll"], self.beta)
