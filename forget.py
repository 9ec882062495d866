"""Train the unlearned (student) model with the chosen method.

    python forget.py --config-name=forget_mini.yaml split=forget_2_1 forget_loss=intervention model_path=PATH
    python forget.py --config-name=forget_wpu.yaml split=forget_2_1 forget_loss=npo lr=4e-5 retain_strength=1
    torchrun --nproc_per_node=2 forget.py --config-name=forget_wpu.yaml ...      # k processes, any k

Teacher-based methods (intervention, whp) read the artifact teacher.py wrote for the same
config; a missing or stale one is refused with the command that builds it. A run killed
mid-training and started again with the same command resumes from its last checkpoint.
"""

import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from transformers import TrainingArguments
from transformers.trainer import TRAINER_STATE_NAME  # the file the Trainer writes last into a checkpoint
from transformers.trainer_utils import get_last_checkpoint

from dataloader import UnlearnTrainer
from forget_data import ForgetContext, UnlearnCollator, attach_retain, attach_retain_references, retain_items
from methods import get_method
from models import load_family, load_model, load_tokenizer, model_dir
from run_record import write_run_record
from teacher import NUMBERS as TEACHER_NUMBERS
from teacher import artifact_path, build_command, check_method_flags, expected_meta, load_targets, substitutes_for
from teacher_artifact import load_artifact, read_meta
from utils import (UserError, atomic_write_json, check_numbers, exit_cleanly_on_user_error, fingerprint, folder_fingerprint,
                   require_writable_dir, set_seed)

logger = logging.getLogger("forget")
DONE_MARKER = "forget_done.json"
RUN_FINGERPRINT = "run_fingerprint.json"
NUMBERS = {**TEACHER_NUMBERS, "lr": "positive number", "num_epochs": "positive number", "weight_decay": "non-negative number",
           "retain_strength": "non-negative number", "beta": "positive number", "batch_size": "positive integer",
           "chunk_batch_size": "positive integer", "gradient_accumulation_steps": "positive integer",
           "docs_per_step": "positive integer or null", "max_length": "positive integer",
           "save_steps": "positive integer or null", "save_total_limit": "positive integer or null",
           "LoRA.r": "non-negative integer"}


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def read_teacher(cfg: DictConfig, config_name: str):
    """The teacher chunks for this config, refusing a missing or stale artifact."""
    check_method_flags(cfg)
    path = artifact_path(cfg)
    command = build_command(cfg, config_name)
    targets = load_targets(cfg)  # a bad split or data file is reported as such, not as a missing teacher
    if not path.is_file():
        raise UserError(f"No teacher artifact at {path}. Build it first: {command}")
    wanted = expected_meta(cfg, targets, substitutes_for(cfg, targets))
    found = read_meta(path)
    if found is None:
        raise UserError(f"Teacher artifact {path} is unreadable (truncated or tampered). Rebuild it: {command}")
    if found != wanted:
        changed = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
        raise UserError(f"Teacher artifact {path} is stale (differs in: {', '.join(changed)}). Rebuild it: {command}")
    return load_artifact(path)[1]


def step_plan(cfg: DictConfig, items: list[dict], chunked: bool) -> dict:
    """The original's step arithmetic: batch_size counts documents (WPU) or QA pairs (TOFU).

    max_steps = floor(epochs * n_docs / (batch_size * accumulation * world)). When a document
    is split into chunks (intervention, whp), a step still covers that many documents, but its
    chunks go through in micro-batches of at most chunk_batch_size, so memory stays bounded.
    """
    n_docs = len({item["doc"] for item in items})
    accumulation = cfg.gradient_accumulation_steps
    if cfg.docs_per_step:  # fixed documents per step: the same schedule on 1 or k processes
        accumulation = max(1, cfg.docs_per_step // (cfg.batch_size * world_size()))
    docs_per_step = cfg.batch_size * accumulation * world_size()
    max_steps = max(1, math.floor(cfg.num_epochs * n_docs / docs_per_step))
    micro_batch = cfg.batch_size
    if chunked:
        micro_batch = cfg.chunk_batch_size
        chunks_per_step = docs_per_step * len(items) / n_docs
        accumulation = max(1, round(chunks_per_step / (micro_batch * world_size())))
    return {"n_docs": n_docs, "n_items": len(items), "docs_per_step": docs_per_step, "max_steps": max_steps,
            "warmup_steps": max(1, max_steps // 10), "micro_batch": micro_batch, "accumulation": accumulation,
            "effective_batch": micro_batch * accumulation * world_size(), "world_size": world_size()}


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
    import importlib.util

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
        path = Path(__file__).resolve().parent / "config" / "ds_config.json"
        logger.info("DeepSpeed ZeRO-3 (%s) on %s", path.name, "CUDA" if torch.cuda.is_available() else "CPU")
        return str(path)
    return None


def set_single_process_world() -> None:
    """DeepSpeed always joins a process group. Started by plain `python` (no torchrun), it would
    look for MPI instead; a world of one on this machine is what the user meant."""
    import socket

    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as probe:  # a port nobody holds, so two runs on one machine do not clash
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))


def run_fingerprint(cfg: DictConfig) -> str:
    settings = OmegaConf.to_container(cfg, resolve=True)
    for key in ("save_dir", "eval", "save_steps"):
        settings.pop(key, None)
    family = load_family(cfg.model_family)
    return fingerprint(settings, folder_fingerprint(model_dir(family, cfg.model_path)), world_size())


def last_complete_checkpoint(save_dir: Path) -> str | None:
    """The newest checkpoint the Trainer finished writing. It writes trainer_state.json last, so a
    checkpoint without a readable one was cut off by a kill while saving: it is removed, and the
    run resumes from the one before it."""
    checkpoints = [p for p in save_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    for checkpoint in sorted(checkpoints, key=lambda p: int(p.name.split("-")[-1]), reverse=True):
        try:
            json.loads((checkpoint / TRAINER_STATE_NAME).read_text())
            return str(checkpoint)
        except (OSError, ValueError):
            if is_main_process():
                logger.info("Removing %s: the run was killed while saving it", checkpoint)
                shutil.rmtree(checkpoint)
    return None


def prepare_save_dir(save_dir: Path, wanted: str) -> str | None:
    """Returns the checkpoint to resume from; refuses checkpoints made by another config."""
    marker = save_dir / RUN_FINGERPRINT
    last = get_last_checkpoint(str(save_dir)) if save_dir.is_dir() else None
    if marker.is_file() and json.loads(marker.read_text())["fingerprint"] != wanted:
        if last:
            raise UserError(f"{save_dir} holds checkpoints of a different configuration; "
                            f"use another save_dir or delete it (overwrite_dir=true).")
    if is_main_process():
        atomic_write_json(marker, {"fingerprint": wanted})
    return last_complete_checkpoint(save_dir) if last else None


def train(cfg: DictConfig, config_name: str, save_dir: Path, resume_from: str | None) -> dict:
    family = load_family(cfg.model_family)
    tokenizer = load_tokenizer(family, cfg.model_path)
    method = get_method(cfg.forget_loss)
    ctx = ForgetContext(cfg, family, tokenizer, read_teacher(cfg, config_name) if method.uses_teacher else None)
    items = method.forget_items(ctx)
    retain = retain_items(ctx) if cfg.retain_strength else []
    if retain:
        attach_retain(items, retain, cfg.seed)
    plan = step_plan(cfg, items, chunked=method.uses_teacher and cfg.input_type == "document")
    logger.info("Step plan: %s", plan)
    model = load_model(family, cfg.model_path)
    model.config.use_cache = False
    method.prepare(model, items, ctx)
    if retain and cfg.retain_loss == "kl":
        attach_retain_references(model.eval(), retain, cfg.teacher.top_k, cfg.teacher.min_gain)
        model.train()
    checkpointing = family.gradient_checkpointing if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    if checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.LoRA.r:
        model = apply_lora(model, cfg)
    zero3 = deepspeed_config(cfg)
    args = TrainingArguments(
        output_dir=str(save_dir), per_device_train_batch_size=plan["micro_batch"],
        gradient_accumulation_steps=plan["accumulation"], max_steps=plan["max_steps"],
        warmup_steps=plan["warmup_steps"], learning_rate=cfg.lr, weight_decay=cfg.weight_decay,
        lr_scheduler_type="linear", optim=cfg.optim, seed=cfg.seed, data_seed=cfg.seed,
        logging_steps=max(1, plan["max_steps"] // 20),
        save_strategy="steps", save_steps=cfg.save_steps or plan["max_steps"], save_total_limit=cfg.save_total_limit,
        report_to=[], remove_unused_columns=False, bf16=model.dtype == torch.bfloat16,
        deepspeed=zero3, ddp_find_unused_parameters=False, dataloader_drop_last=False,
        # Without an accelerator, accelerate forms a gloo process group only when told the run is on CPU;
        # otherwise every torchrun process would train alone on all the data.
        use_cpu=not torch.accelerator.is_available() and zero3 is None,
    )
    trainer = UnlearnTrainer(model=model, args=args, train_dataset=items, processing_class=tokenizer,
                             data_collator=UnlearnCollator(tokenizer.pad_token_id),
                             method=method, retain_strength=cfg.retain_strength)
    started = time.time()
    trainer.train(resume_from_checkpoint=resume_from)
    seconds = time.time() - started
    final_model = trainer.model.merge_and_unload() if cfg.LoRA.r else trainer.model
    if cfg.LoRA.r:
        trainer.model = final_model
    trainer.save_model(str(save_dir))
    if is_main_process():
        tokenizer.save_pretrained(str(save_dir))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    return {**plan, "train_seconds": round(seconds, 1), "losses": losses, "final_loss": losses[-1] if losses else None}


RESUME_ONLY_FILES = ("optimizer.pt", "scheduler.pt", "rng_state*.pth")


def drop_resume_state(save_dir: Path) -> None:
    """A finished run never resumes, so its checkpoints' optimizer states (twice the weights in
    fp32) are deleted; the checkpoint weights stay for per-checkpoint evaluation."""
    freed = 0
    for pattern in RESUME_ONLY_FILES:
        for path in save_dir.glob(f"checkpoint-*/{pattern}"):
            freed += path.stat().st_size
            path.unlink()
    if freed:
        logger.info("Removed optimizer states from the finished run's checkpoints (%.0f MB)", freed / 2**20)


def has_questions(cfg: DictConfig) -> bool:
    """Documents alone are enough to unlearn; QA rows are what evaluation scores."""
    from data_module import load_split

    rows = load_split(cfg.data_path, cfg.split)
    return bool(rows) and all(row.get("question") and row.get("answer") for row in rows)


def release_zero3_loading() -> None:
    """After ZeRO-3 training, transformers still holds the Trainer's DeepSpeed config as a global,
    and from_pretrained would then build a partitioned (empty) model. The evaluation loads the
    saved model as a plain full copy, so the switch is turned off first (seen on one GPU)."""
    try:
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config
    except ImportError:
        return
    unset_hf_deepspeed_config()


def evaluate_final_model(cfg: DictConfig, save_dir: Path, step: int) -> None:
    """WPU: evaluate the saved model in-process into checkpoint-{step}/ (the original's layout)
    and write aggregate_stat.csv there."""
    from aggregate_wpu import write_aggregate
    from evaluate_util import evaluate_model

    eval_dir = save_dir / f"checkpoint-{step}"
    family = load_family(cfg.model_family)
    release_zero3_loading()
    model = load_model(family, str(save_dir)).eval()
    evaluate_model(model, load_tokenizer(family, str(save_dir)), family, cfg.eval, eval_dir)
    row = write_aggregate(eval_dir)
    logger.info("Evaluation: %s", ", ".join(f"{k}={v:.3f}" for k, v in row.items() if "ROUGE" in k))


@hydra.main(version_base="1.3", config_path="config", config_name="forget_mini")
@exit_cleanly_on_user_error
def main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    check_numbers(cfg, NUMBERS)
    set_seed(cfg.seed)
    get_method(cfg.forget_loss)  # unknown names fail before anything is loaded
    if cfg.retain_loss not in ("ce", "kl"):
        raise UserError(f"retain_loss must be ce or kl, not '{cfg.retain_loss}'.")
    save_dir = Path(cfg.save_dir).expanduser()
    wanted = run_fingerprint(cfg)
    done = save_dir / DONE_MARKER
    if done.is_file() and json.loads(done.read_text()).get("fingerprint") == wanted and not cfg.overwrite_dir:
        logger.info("%s is complete for this configuration; skipping", save_dir)
        return
    require_writable_dir(save_dir, "save_dir_root (or save_dir)")
    if cfg.overwrite_dir and save_dir.exists() and is_main_process():
        shutil.rmtree(save_dir)
    done.unlink(missing_ok=True)
    resume_from = prepare_save_dir(save_dir, wanted)
    if resume_from:
        logger.info("Resuming from %s", resume_from)
    stats = train(cfg, HydraConfig.get().job.config_name, save_dir, resume_from)
    if is_main_process():
        write_run_record(save_dir, cfg, {k: v for k, v in stats.items() if k != "losses"})
        if cfg.eval_after_training and has_questions(cfg):
            evaluate_final_model(cfg, save_dir, stats["max_steps"])
        elif cfg.eval_after_training:
            logger.info("The forget split '%s' has no QA rows (question/answer): no evaluation", cfg.split)
        atomic_write_json(done, {"fingerprint": wanted, **stats})
        drop_resume_state(save_dir)
        logger.info("Unlearned model saved to %s (%d steps, %.0f s, final loss %s)", save_dir, stats["max_steps"],
                    stats["train_seconds"], stats["final_loss"])


if __name__ == "__main__":
    main()
