"""UNDIAL, unlearning via self-distillation with adjusted logits (Dong et al., 2024): the student is
trained towards the initial model's next-token distribution with the true token's logit lowered by
a fixed strength gamma:

    L = mean_t KL( softmax(z0_t - gamma * onehot(y_t)) || p_theta(. | y_<t) ),   z0 the initial model's logits

(the paper's cross-entropy to that target, less the target's entropy, which has no gradient). The
targets are computed once before training and stored in compact form, as the intervention
teacher's (teacher.top_k, teacher.kl_budget): no second model in memory. Default undial.strength 10.
"""

import torch

from causal_unlearn.unlearn.items import ForgetContext, attach_target_distributions, text_items
from causal_unlearn.unlearn.losses import mean_positional_kl
from causal_unlearn.unlearn.methods.base import Method, teacher_position_logits


class UNDIAL(Method):
    name = "undial"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        return text_items(ctx)

    def prepare(self, model, items: list[dict], ctx: ForgetContext) -> None:
        was_training = model.training
        attach_target_distributions(model.eval(), items, ctx.cfg.teacher.top_k, ctx.cfg.teacher.kl_budget,
                                    label_penalty=ctx.cfg.undial.strength, scope=ctx.cfg.teacher.kl_budget_scope)
        model.train(was_training)

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        return mean_positional_kl(teacher_position_logits(model, batch), batch)
