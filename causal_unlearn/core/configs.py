"""Configs: composing one outside an entry point, and the one validation of config values for
every entry point and every config in config/.

The configs are plain YAML, so Hydra passes `lr=abc` or `num_epochs=-1` through unchecked; they
would otherwise fail deep inside a stage, or (num_epochs=-1) quietly run one step. `validate`
refuses a value of the wrong type, range or choice with one line naming the key and the fix.
Keys a config does not have are skipped, so one table serves the forget, finetune and eval configs.
"""

import math

from omegaconf import DictConfig, OmegaConf

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.run_layout import model_tag

# `${model_tag:${model_family},${model_path}}` in save_dir (config/base.yaml); registered when an
# entry point imports this module, before Hydra's config is resolved.
OmegaConf.register_new_resolver("model_tag", model_tag, replace=True)

POSITIVE_INT, NON_NEGATIVE_INT = "positive integer", "non-negative integer"
POSITIVE, NON_NEGATIVE = "positive number", "non-negative number"
OR_NULL = " or null"

NUMBERS = {
    # shared by the forget and finetune configs
    "seed": NON_NEGATIVE_INT, "lr": POSITIVE, "num_epochs": POSITIVE, "weight_decay": NON_NEGATIVE,
    "batch_size": POSITIVE_INT, "gradient_accumulation_steps": POSITIVE_INT, "max_length": POSITIVE_INT,
    # unlearning (forget.py)
    "retain_strength": NON_NEGATIVE, "beta": POSITIVE, "chunk_batch_size": POSITIVE_INT,
    "docs_per_step": POSITIVE_INT + OR_NULL, "save_steps": POSITIVE_INT + OR_NULL,
    "save_total_limit": POSITIVE_INT + OR_NULL, "LoRA.r": NON_NEGATIVE_INT,
    # method settings
    "simnpo.beta": POSITIVE, "simnpo.margin": NON_NEGATIVE, "dpo.beta": POSITIVE, "rmu.layer": NON_NEGATIVE_INT,
    "rmu.steering_coeff": POSITIVE, "rmu.alpha": NON_NEGATIVE, "undial.strength": NON_NEGATIVE, "wga.beta": NON_NEGATIVE,
    "satimp.beta1": NON_NEGATIVE, "satimp.beta2": NON_NEGATIVE,
    # fine-tuning (finetune.py)
    "qa_per_chat": POSITIVE_INT, "warmup_steps": NON_NEGATIVE_INT, "max_grad_norm": POSITIVE,
    # the teacher (teacher.py)
    "teacher.N": POSITIVE_INT, "teacher.top_k": POSITIVE_INT, "teacher.kl_budget": NON_NEGATIVE,
    "teacher.micro_batch": POSITIVE_INT, "teacher.whp_chunk_tokens": POSITIVE_INT,
    # evaluation: the eval block of the forget configs, or the top level of eval_everything.yaml
    "eval.ds_size": POSITIVE_INT, "eval.batch_size": POSITIVE_INT, "eval.generation.max_new_tokens": POSITIVE_INT,
    "ds_size": POSITIVE_INT, "generation.max_new_tokens": POSITIVE_INT,
    "eval.generation.max_length": POSITIVE_INT + OR_NULL, "generation.max_length": POSITIVE_INT + OR_NULL,
    # attacks and judge
    "msj.pool_min_rouge": NON_NEGATIVE, "msj.max_shots": NON_NEGATIVE_INT + OR_NULL,
    "msj.max_prompt_tokens": POSITIVE_INT + OR_NULL, "msj.max_new_tokens": POSITIVE_INT, "msj.batch_size": POSITIVE_INT,
    "soft_embed.num_tokens": POSITIVE_INT, "soft_embed.lr": POSITIVE, "soft_embed.weight_decay": NON_NEGATIVE,
    "soft_embed.anchor": NON_NEGATIVE,
    "soft_embed.loss_threshold": POSITIVE, "soft_embed.epochs": POSITIVE_INT, "soft_embed.restarts": POSITIVE_INT,
    "soft_embed.batch_size": POSITIVE_INT, "soft_embed.num_openers": POSITIVE_INT,
    "soft_embed.generate_batch_size": POSITIVE_INT, "soft_embed.max_new_tokens": POSITIVE_INT,
    "soft_embed.seed": NON_NEGATIVE_INT,
    "judge.max_tokens": POSITIVE_INT, "judge.concurrency": POSITIVE_INT, "judge.max_retries": NON_NEGATIVE_INT,
    "judge.timeout": POSITIVE,
}

# Lists of numbers: every entry follows the rule, and the list has at least one.
NUMBER_LISTS = {
    "msj.shot_counts": NON_NEGATIVE_INT,
}

CHOICES = {
    "input_type": ("document", "question"),
    "retain_loss": ("ce", "kl"),
    "npo_reference": ("precomputed", "model"),
    "deepspeed": ("auto", "true", "false"),
    "teacher.kl_budget_scope": ("chunk", "position"),
    "cpu_bf16_autocast": ("auto", "true", "false"), "eval.generation.cpu_bf16": ("auto", "true", "false"),
    "generation.cpu_bf16": ("auto", "true", "false"),
}

_ABSENT = object()


def _select(cfg: DictConfig, key: str):
    return OmegaConf.select(cfg, key, default=_ABSENT)


def _check_number(key: str, value, rule: str) -> None:
    if value is None and rule.endswith(OR_NULL):
        return
    kind = int if "integer" in rule else (int, float)
    valid = isinstance(value, kind) and not isinstance(value, bool) and math.isfinite(value)
    if not valid or not (value > 0 if rule.startswith("positive") else value >= 0):
        raise UserError(f"{key}={value} is not a {rule}; set {key} to one (on the command line or in the config).")


def _check_number_list(key: str, value, rule: str) -> None:
    if not OmegaConf.is_list(value) or len(value) == 0:
        raise UserError(f"{key}={value} is not a list of {rule}s; set it as a list, for example {key}=[0,4,8].")
    for entry in value:
        try:
            _check_number(key, entry, rule)
        except UserError:
            raise UserError(f"{key} holds {entry}, which is not a {rule}; set it as a list of {rule}s, for example "
                            f"{key}=[0,4,8].") from None


def validate(cfg: DictConfig) -> None:
    """Refuse the first value of the wrong type, range or choice, with one line naming the fix."""
    for key, rule in NUMBERS.items():
        value = _select(cfg, key)
        if value is not _ABSENT:
            _check_number(key, value, rule)
    for key, rule in NUMBER_LISTS.items():
        value = _select(cfg, key)
        if value is not _ABSENT:
            _check_number_list(key, value, rule)
    for key, allowed in CHOICES.items():
        value = _select(cfg, key)
        if value is not _ABSENT and str(value).lower() not in allowed:
            raise UserError(f"{key}={value} is not one of {', '.join(allowed)}; set {key} to one of them.")


def compose_config(config_name: str, overrides: list[str]) -> DictConfig:
    """A config of config/ with Hydra overrides, as an entry point would see it (for helpers scripts call)."""
    from hydra import compose, initialize_config_dir

    from causal_unlearn.core.paths import repo_root

    with initialize_config_dir(config_dir=str(repo_root() / "config"), version_base="1.3"):
        return compose(config_name=config_name.removesuffix(".yaml"), overrides=overrides)
