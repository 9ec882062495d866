"""RMU, representation misdirection for unlearning (Li et al., 2024, "The WMDP Benchmark"): on
forget text, push the hidden states of one layer towards a fixed random direction; on retain
text, keep them where the frozen model had them:

    L = mean_t || h_theta^(l)(x_f)_t - c * u ||^2 / H  +  retain_strength * alpha * mean_t || h_theta^(l)(x_r)_t - h_frozen^(l)(x_r)_t ||^2 / H

u is a random direction (uniform entries, normalised, seeded), c the steering coefficient, H the
hidden size. Only the MLP output projections of rmu.update_layers are trained (as the paper's
code). The frozen model's hidden states on the retain texts are computed once before training and
stored with the retain items: no second model in memory. The retain term is RMU's own (it
replaces retain_loss=ce/kl) and needs retain_strength > 0, as the other methods' retain terms.
Defaults are the paper's for Zephyr-7B: rmu.layer 7, rmu.update_layers [5, 6, 7],
rmu.steering_coeff 6.5, rmu.alpha 1200.
"""

import torch

from causal_unlearn.core.errors import UserError
from causal_unlearn.unlearn.items import ForgetContext, text_items
from causal_unlearn.unlearn.losses import activation_mse
from causal_unlearn.unlearn.methods.base import Method


def trained_parameter(name: str, layers: list[int]) -> bool:
    """The MLP output projection of one of `layers` (Llama-style names: model.layers.{i}.mlp.down_proj.weight)."""
    return any(f"layers.{layer}.mlp.down_proj." in name for layer in layers)


class RMU(Method):
    name = "rmu"

    def forget_items(self, ctx: ForgetContext) -> list[dict]:
        self.settings = ctx.cfg.rmu
        if ctx.cfg.LoRA.r:
            raise UserError("forget_loss=rmu trains chosen MLP weights itself; set LoRA.r=0.")
        return text_items(ctx)

    def hidden(self, model, batch: dict) -> torch.Tensor:
        # The loss reads hidden states only: the head runs at one position, not over the whole vocabulary everywhere.
        output = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True,
                       logits_to_keep=1)
        return output.hidden_states[self.settings.layer + 1]  # index 0 holds the embeddings

    @torch.no_grad()
    def prepare(self, model, items: list[dict], ctx: ForgetContext) -> None:
        layers = model.config.num_hidden_layers
        wanted = [self.settings.layer, *self.settings.update_layers]
        if any(not 0 <= layer < layers for layer in wanted):
            raise UserError(f"rmu.layer and rmu.update_layers must be layers of the model (0..{layers - 1}); "
                            f"got layer {self.settings.layer}, update_layers {list(self.settings.update_layers)}.")
        generator = torch.Generator().manual_seed(ctx.cfg.seed)
        direction = torch.rand(model.config.hidden_size, generator=generator)
        self.control = (direction / direction.norm() * self.settings.steering_coeff).to(model.device)
        was_training = model.training
        model.eval()
        retain = {id(item["retain"]): item["retain"] for item in items if "retain" in item}
        for item in retain.values():
            ids = torch.tensor([item["input_ids"]], device=model.device)
            item["reference_hidden"] = self.hidden(model, {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
                                                   )[0].float().cpu().numpy()
        model.train(was_training)
        trained = 0
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(trained_parameter(name, list(self.settings.update_layers)))
            trained += parameter.numel() if parameter.requires_grad else 0
        if not trained:
            raise UserError("rmu.update_layers matched no MLP down_proj weight of this model family.")

    def forget_loss(self, model, batch: dict) -> torch.Tensor:
        hidden = self.hidden(model, batch)
        return activation_mse(hidden, self.control.expand_as(hidden), batch["labels"] != -100)

    def retain_loss(self, model, batch: dict) -> torch.Tensor:
        hidden = self.hidden(model, batch)
        return self.settings.alpha * activation_mse(hidden, batch["reference_hidden"].to(hidden.device),
                                                    batch["labels"] != -100)
