"""The forget stage: train the unlearned (student) model with the chosen method, save it, and
evaluate it into checkpoint-{steps}/ (core/run_layout.py).

Teacher-based methods (intervention, whp) read the artifact teacher.py wrote for the same config;
a missing or stale one is refused with the command that builds it. A run killed mid-training and
started again with the same command resumes from its last checkpoint; a finished run with the
same configuration is skipped.
"""

import logging
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig
from transformers import TrainingArguments

from causal_unlearn.core.data import load_split
from causal_unlearn.core.distributed import is_main_process
from causal_unlearn.core.models import load_family, load_model, load_tokenizer, trains_in_bf16_autocast
from causal_unlearn.core.paths import require_writable_dir
from causal_unlearn.core.run_layout import FORGET_DONE, checkpoint_dir
from causal_unlearn.core.runtime import limit_heap_fragmentation, set_seed, write_run_record
from causal_unlearn.core.stage import is_current, write_record
from causal_unlearn.eval.qa_eval import evaluate_model
from causal_unlearn.eval.wpu_aggregate import write_aggregate
from causal_unlearn.teacher.build import read_teacher
from causal_unlearn.unlearn.checkpoints import drop_resume_state, prepare_save_dir, run_fingerprint
from causal_unlearn.unlearn.collators import UnlearnCollator
from causal_unlearn.unlearn.items import ForgetContext, attach_retain, attach_target_distributions, retain_items
from causal_unlearn.unlearn.methods import get_method
from causal_unlearn.unlearn.step_plan import step_plan
from causal_unlearn.unlearn.trainer import UnlearnTrainer, apply_lora, deepspeed_config, release_zero3_loading

logger = logging.getLogger("forget")


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
        attach_target_distributions(model.eval(), retain, cfg.teacher.top_k, cfg.teacher.kl_budget,
                                    scope=cfg.teacher.kl_budget_scope)
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
        report_to=[], remove_unused_columns=False,
        bf16=model.dtype == torch.bfloat16 or trains_in_bf16_autocast(model, cfg.cpu_bf16_autocast),
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


def has_questions(cfg: DictConfig) -> bool:
    """Documents alone are enough to unlearn; QA rows are what evaluation scores."""
    rows = load_split(cfg.data_path, cfg.split)
    return bool(rows) and all(row.get("question") and row.get("answer") for row in rows)


def evaluate_final_model(cfg: DictConfig, save_dir: Path, step: int) -> None:
    """WPU: evaluate the saved model in-process into checkpoint-{step}/ (the original's layout)
    and write aggregate_stat.csv there."""
    eval_dir = checkpoint_dir(save_dir, step)
    family = load_family(cfg.model_family)
    release_zero3_loading()
    model = load_model(family, str(save_dir)).eval()
    evaluate_model(model, load_tokenizer(family, str(save_dir)), family, cfg.eval, eval_dir)
    row = write_aggregate(eval_dir)
    logger.info("Evaluation: %s", ", ".join(f"{k}={v:.3f}" for k, v in row.items() if "ROUGE" in k))


def run_forget(cfg: DictConfig, config_name: str) -> None:
    """Train, save and evaluate unless save_dir already holds this configuration's finished run."""
    limit_heap_fragmentation()
    set_seed(cfg.seed)
    get_method(cfg.forget_loss)  # unknown names fail before anything is loaded
    save_dir = Path(cfg.save_dir).expanduser()
    wanted = run_fingerprint(cfg)
    done = save_dir / FORGET_DONE
    if is_current(done, wanted) and not cfg.overwrite_dir:
        logger.info("%s is complete for this configuration; skipping", save_dir)
        return
    require_writable_dir(save_dir, "save_dir_root (or save_dir)")
    if cfg.overwrite_dir and save_dir.exists() and is_main_process():
        shutil.rmtree(save_dir)
    done.unlink(missing_ok=True)
    resume_from = prepare_save_dir(save_dir, wanted)
    if resume_from:
        logger.info("Resuming from %s", resume_from)
    stats = train(cfg, config_name, save_dir, resume_from)
    if not is_main_process():
        return
    write_run_record(save_dir, cfg, {k: v for k, v in stats.items() if k != "losses"})
    if cfg.eval_after_training and has_questions(cfg):
        evaluate_final_model(cfg, save_dir, stats["max_steps"])
    elif cfg.eval_after_training:
        logger.info("The forget split '%s' has no QA rows (question/answer): no evaluation", cfg.split)
    write_record(done, wanted, **stats)
    drop_resume_state(save_dir)
    logger.info("Unlearned model saved to %s (%d steps, %.0f s, final loss %s)", save_dir, stats["max_steps"],
                stats["train_seconds"], stats["final_loss"])
