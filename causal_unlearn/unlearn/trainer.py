"""The unlearning Trainer and what it is built with.

`UnlearnTrainer` is a thin subclass of the Hugging Face Trainer whose loss is the chosen
method's forget loss plus `retain_strength` times a retain loss on a retain text: the method's own
when it has one (RMU), else the causal-LM loss (retain_loss=ce, the original's) or the KL to the
original model's next-token distributions stored on the retain item (retain_loss=kl). `apply_lora` and `deepspeed_config`
set up the two ways to fit a large model.
"""

import importlib.util
import logging

import torch
from omegaconf import DictConfig
from transformers import Trainer

from causal_unlearn.core.distributed import set_single_process_world, world_size
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.paths import repo_root
from causal_unlearn.unlearn.losses import mean_positional_kl, mean_token_nll
from causal_unlearn.unlearn.methods.base import predictions, teacher_position_logits

logger = logging.getLogger("forget")


class UnlearnTrainer(Trainer):
    def __init__(self, *args, method, retain_strength: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.method = method
        self.retain_strength = retain_strength
        # Our losses are means over the micro-batch; let the Trainer divide by accumulation steps.
        self.loss_is_scaled_for_ga = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        loss = self.method.forget_loss(model, inputs["forget"])
        retain = inputs.get("retain")
        if self.retain_strength and retain is not None:
            retain_loss = self.method.retain_loss(model, retain)
            if retain_loss is None:
                retain_loss = (mean_positional_kl(teacher_position_logits(model, retain), retain) if "topk_ids" in retain
                               else mean_token_nll(predictions(model, retain)))
            loss = loss + self.retain_strength * retain_loss
        return (loss, None) if return_outputs else loss


def apply_lora(model, cfg: DictConfig):
    from peft import LoraConfig, get_peft_model

    linear_names = {name.split(".")[-1] for name, module in model.named_modules()
                    if isinstance(module, torch.nn.Linear) and not name.endswith("lm_head")}
    config = LoraConfig(r=cfg.LoRA.r, lora_alpha=cfg.LoRA.alpha, lora_dropout=cfg.LoRA.dropout,
                        target_modules=sorted(linear_names), bias="none", task_type="CAUSAL_LM")
    if getattr(model, "is_gradient_checkpointing", False):
        model.enable_input_require_grads()  # so checkpointed LoRA layers receive gradients
    return get_peft_model(model, config)


def deepspeed_config(cfg: DictConfig) -> str | None:
    """ZeRO-3 is chosen by `deepspeed=auto` only where it pays (CUDA). `deepspeed=true` needs only
    the package: without a GPU, DeepSpeed runs on its CPU accelerator (gloo), slow but the same
    code path, which is how the tests check ZeRO-3 training, saving and the evaluation after it."""
    wanted = str(cfg.deepspeed).lower()
    installed = importlib.util.find_spec("deepspeed") is not None
    if wanted == "true" and not installed:
        raise UserError("deepspeed=true needs the deepspeed package: run `bash scripts/setup_env.sh`, "
                        "or set deepspeed=false.")
    if wanted == "true" and world_size() > 1 and not torch.cuda.is_available():
        raise UserError("ZeRO-3 on CPU runs in one process only (accelerate forms no DeepSpeed group of CPU "
                        "processes): launch without torchrun, or set deepspeed=false.")
    if wanted == "true" or (wanted == "auto" and installed and torch.cuda.is_available()):
        set_single_process_world()
        path = repo_root() / "config" / "ds_config.json"
        logger.info("DeepSpeed ZeRO-3 (%s) on %s", path.name, "CUDA" if torch.cuda.is_available() else "CPU")
        return str(path)
    return None


def release_zero3_loading() -> None:
    """After ZeRO-3 training, transformers still holds the Trainer's DeepSpeed config as a global,
    and from_pretrained would then build a partitioned (empty) model. The evaluation loads the
    saved model as a plain full copy, so the switch is turned off first (seen on one GPU)."""
    try:
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config
    except ImportError:
        return
    unset_hf_deepspeed_config()
