"""The fine-tuning stage: a base model trained on documents and QA pairs, saved as a normal HF folder.

Used for the embedded default's knowledge implant (config/finetune_mini.yaml), and for TOFU
target and retain models. Idempotent: a finished save_dir records the fingerprint of its
inputs and is reused when they have not changed; the folder appears only when complete.
With `save_epochs`, the model after each listed epoch is also kept, as save_dir/epoch-{k}/: a
learning curve from one run. With `base_mix`, the saved weights (snapshots too) have that share
of the start weights mixed back in. With `start_decay`, every optimizer step also pulls the weights
toward the start weights (decoupled weight decay toward the start instead of toward zero). With
`LoRA.r` > 0, only low-rank adapters train and are merged into the saved weights. With
`replay_titles`, the QA rows of those titles are general-knowledge replay, distilled from the start
model instead of learned (unlearn/replay_distill.py).
"""

import copy
import logging
import os
import random
import shutil
import time
from pathlib import Path

import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from causal_unlearn.core.data import encode_document, encode_with_labels, load_split, require_fields
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import load_family, load_model, load_tokenizer, model_dir
from causal_unlearn.core.paths import resolve_repo_path
from causal_unlearn.core.prompts import render_chat
from causal_unlearn.core.runtime import limit_heap_fragmentation, set_seed, write_run_record
from causal_unlearn.core.stage import file_fingerprint, fingerprint, folder_fingerprint, is_current, write_record

logger = logging.getLogger("finetune")
DONE_MARKER = "finetune_done.json"


def snapshot_dir(save_dir: Path, epoch: int) -> Path:
    """Where the model after `epoch` is kept when save_epochs lists it."""
    return save_dir / f"epoch-{epoch}"


def check_save_epochs(save_epochs, num_epochs) -> list[int]:
    """The listed epochs, refused unless each is a whole epoch the run reaches."""
    epochs = list(save_epochs)
    for epoch in epochs:
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 1 <= epoch <= num_epochs:
            raise UserError(f"save_epochs holds {epoch}, which is not a whole epoch from 1 to num_epochs={num_epochs}; "
                            f"set save_epochs to such a list, for example save_epochs=[2,4].")
    return epochs


def check_base_mix(base_mix) -> float:
    """A share of the start weights: from 0 (the trained weights) to 1 (the start weights)."""
    if isinstance(base_mix, bool) or not isinstance(base_mix, (int, float)) or not 0 <= base_mix <= 1:
        raise UserError(f"base_mix={base_mix} is not a share from 0 to 1; set base_mix to one, for example base_mix=0.4.")
    return float(base_mix)


def check_start_decay(start_decay) -> float:
    """A decay rate toward the start weights: 0 (off) or more."""
    if isinstance(start_decay, bool) or not isinstance(start_decay, (int, float)) or start_decay < 0:
        raise UserError(f"start_decay={start_decay} is not a rate of 0 or more; set start_decay to one, "
                        f"for example start_decay=40 (0 turns it off).")
    return float(start_decay)


def check_replay_titles(replay_titles, qa_rows: list[dict]) -> set[str]:
    """The replay titles, refused unless each is the title of at least one QA row (a misspelt title
    would silently turn the distillation off)."""
    if not isinstance(replay_titles, (list, tuple, ListConfig)) or not all(isinstance(t, str) for t in replay_titles):
        raise UserError(f"replay_titles={replay_titles} is not a list of QA titles; set it to one, "
                        f"for example replay_titles=[general] ([] learns every QA row).")
    titles = {row.get("title") for row in qa_rows}
    missing = [title for title in replay_titles if title not in titles]
    if missing:
        raise UserError(f"replay_titles lists {missing}, which no row of qa_splits has as its title; "
                        f"use titles of the QA rows or replay_titles=[].")
    return set(replay_titles)


def check_lora_alone(cfg: DictConfig) -> None:
    """base_mix and start_decay act on the full weights, which a LoRA run does not train."""
    if cfg.LoRA.r and (cfg.base_mix or cfg.start_decay):
        raise UserError(f"LoRA.r={cfg.LoRA.r} trains adapters only, but base_mix={cfg.base_mix} and "
                        f"start_decay={cfg.start_decay} act on the full weights; set LoRA.r=0 or both to 0.")


def decay_toward(model, start: dict[str, torch.Tensor], share: float) -> None:
    """Moves every trainable weight `share` of the way back to its start value, in place."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.requires_grad:
                param.lerp_(start[name].to(param.device, param.dtype), share)


def start_decay_callback(start: dict[str, torch.Tensor], start_decay: float):
    """A Trainer callback that pulls the weights toward the start after every optimizer step, by
    lr_t * start_decay (as AdamW's decoupled decay pulls toward zero by lr_t * weight_decay).

    Unlike `base_mix`, which shrinks every change by the same share once training is done, the pull
    acts while training goes on: what the data keeps asking for is learned again after each pull,
    and only changes the data does not need fade (L2-SP, Li et al., 2018, in decoupled form).
    """
    from transformers import TrainerCallback

    class StartDecay(TrainerCallback):
        # Right after the optimizer step, before the scheduler moves on: the rate is the one that step used.
        def on_optimizer_step(self, args, state, control, model=None, optimizer=None, **kwargs):
            decay_toward(model, start, min(1.0, optimizer.param_groups[0]["lr"] * start_decay))

    return StartDecay()


def mixed_weights(model, start: dict[str, torch.Tensor], base_mix: float) -> dict[str, torch.Tensor]:
    """The model's weights with `base_mix` of the start weights mixed back in, (1 - m) trained + m start.

    Interpolating toward the start weights (WiSE-FT, Wortsman et al., 2022) gives back general
    knowledge a fine-tune wore away, at a smaller cost to what it taught than a shorter fine-tune.
    """
    return {name: torch.lerp(value.detach(), start[name], base_mix) for name, value in model.state_dict().items()}


def epoch_snapshots(epochs: list[int], folder: Path, tokenizer, start: dict[str, torch.Tensor] | None, base_mix: float):
    """A Trainer callback that saves a loadable model folder after each listed epoch (mixed as the
    final model is, so that a snapshot is what a shorter run would have saved)."""
    from transformers import TrainerCallback

    class EpochSnapshots(TrainerCallback):
        def on_epoch_end(self, args, state, control, model=None, **kwargs):
            epoch = round(state.epoch)  # the Trainer counts epochs as floats (3.0000001)
            if epoch in epochs and state.is_world_process_zero:
                weights = mixed_weights(model, start, base_mix) if start else None
                if hasattr(model, "merge_and_unload"):  # LoRA: a merged copy, training goes on with the adapters
                    model = copy.deepcopy(model).merge_and_unload()
                model.save_pretrained(str(snapshot_dir(folder, epoch)), state_dict=weights)
                tokenizer.save_pretrained(str(snapshot_dir(folder, epoch)))
                logger.info("Saved the model after epoch %d", epoch)

    return EpochSnapshots()


def build_examples(cfg: DictConfig, family, tokenizer) -> list[dict]:
    """Documents as plain LM sequences + QA pairs packed into multi-turn chats (answers trained)."""
    examples = []
    for split in cfg.document_splits:
        rows = load_split(cfg.data_path, split)
        require_fields(rows, [cfg.document_key], f"document split '{split}'")
        examples += [encode_document(tokenizer, row[cfg.document_key], cfg.max_length) for row in rows]
    qa_rows = []
    for split in cfg.qa_splits:
        rows = load_split(cfg.data_path, split)
        require_fields(rows, [cfg.question_key, cfg.answer_key], f"QA split '{split}'")
        qa_rows += rows
    # A fixed shuffle before packing mixes topics inside each chat, so no chat is all one person.
    random.Random(cfg.seed).shuffle(qa_rows)
    replay_titles = check_replay_titles(cfg.replay_titles, qa_rows)
    learned = [row for row in qa_rows if row.get("title") not in replay_titles]
    replayed = [row for row in qa_rows if row.get("title") in replay_titles]
    # Replay rows get chats of their own: the whole chat is distilled, the world's chats are learned.
    for rows, replay in ((learned, False), (replayed, True)):
        for start in range(0, len(rows), cfg.qa_per_chat):
            turns = [(row[cfg.question_key], row[cfg.answer_key]) for row in rows[start:start + cfg.qa_per_chat]]
            chat = render_chat(family, tokenizer, turns)
            example = encode_with_labels(tokenizer, chat.text, chat.answer_spans, cfg.max_length)
            examples.append({**example, "replay": replay} if replay_titles else example)
    if not examples:
        raise UserError("The corpus is empty: set document_splits and/or qa_splits to configs with rows.")
    if replay_titles:  # documents are learned
        examples = [{"replay": False, **example} for example in examples]
    return examples


def input_fingerprint(cfg: DictConfig) -> str:
    """Everything that changes the trained weights: config values, corpus files, start weights."""
    family = load_family(cfg.model_family)
    data_dir = Path(resolve_repo_path(cfg.data_path))
    corpus = cfg.data_path  # a hub dataset is identified by its id
    if data_dir.is_dir():
        files = [data_dir / f"{name}.json" for name in [*cfg.document_splits, *cfg.qa_splits]]
        corpus = [(path.name, file_fingerprint(path)) for path in files if path.is_file()]
    settings = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k != "save_dir"}
    # Keys added since models were first cached: at their defaults (no snapshots, no mixing) they
    # leave the fingerprint what it was before they existed, so those models are still current.
    for key, default in (("save_epochs", []), ("base_mix", 0.0), ("start_decay", 0.0), ("replay_titles", [])):
        if key in settings and settings[key] == default:
            settings.pop(key)
    if settings.get("LoRA", {}).get("r") == 0:  # the adapter settings are unused at r=0
        settings.pop("LoRA")
    return fingerprint(settings, corpus, folder_fingerprint(model_dir(family, cfg.model_path)))


def train(cfg: DictConfig, staging: Path) -> dict | None:
    """Trains and saves into `staging`; returns the run's figures, or None on a process other
    than the first under torchrun (the Trainer saves only from the first)."""
    # Imported here, not at the top: they take seconds to import, and an up-to-date save_dir needs none of them.
    from transformers import Trainer, TrainingArguments

    from causal_unlearn.unlearn.collators import PaddingCollator
    from causal_unlearn.unlearn.replay_distill import ReplayCollator, ReplayDistillTrainer
    from causal_unlearn.unlearn.trainer import apply_lora

    family = load_family(cfg.model_family)
    tokenizer = load_tokenizer(family, cfg.model_path)
    examples = build_examples(cfg, family, tokenizer)
    model = load_model(family, cfg.model_path)
    base_mix = check_base_mix(cfg.base_mix)
    start_decay = check_start_decay(cfg.start_decay)
    keep_start = base_mix or start_decay
    start = {name: value.detach().clone() for name, value in model.state_dict().items()} if keep_start else None
    if family.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    if cfg.LoRA.r:
        # Low-rank updates change the weights less than a full fine-tune of the same reach: a lever
        # for keeping what the base model knew while it learns the world.
        model = apply_lora(model, cfg)
    n_tokens = sum(len(example["input_ids"]) for example in examples)
    logger.info("Training on %d sequences (%d tokens) for %d epochs", len(examples), n_tokens, cfg.num_epochs)
    args = TrainingArguments(
        output_dir=str(staging / "trainer"),
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        learning_rate=cfg.lr,
        warmup_steps=cfg.warmup_steps,
        lr_scheduler_type=cfg.lr_scheduler_type,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        num_train_epochs=cfg.num_epochs,
        seed=cfg.seed,
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
        # Batches of similar lengths: dynamic padding then wastes ~2% instead of ~25% of compute.
        train_sampling_strategy="group_by_length",
        bf16=model.dtype == torch.bfloat16,
        use_cpu=not torch.accelerator.is_available(),  # so CPU processes under torchrun form one gloo group
    )
    callbacks = [start_decay_callback(start, start_decay)] if start_decay else []
    if cfg.save_epochs:
        callbacks.append(epoch_snapshots(list(cfg.save_epochs), staging, tokenizer, start if base_mix else None, base_mix))
    distilled = any(example.get("replay") for example in examples)
    trainer_class, collator = (ReplayDistillTrainer, ReplayCollator) if distilled else (Trainer, PaddingCollator)
    trainer = trainer_class(model=model, args=args, train_dataset=examples, data_collator=collator(tokenizer.pad_token_id),
                            callbacks=callbacks)
    started = time.time()
    result = trainer.train()
    seconds = time.time() - started
    if not trainer.is_world_process_zero():
        return None
    if base_mix:
        model.load_state_dict(mixed_weights(model, start, base_mix))
    if cfg.LoRA.r:
        model.merge_and_unload().save_pretrained(str(staging))  # a plain model folder, as the full fine-tune saves
    else:
        trainer.save_model(str(staging))
    tokenizer.save_pretrained(str(staging))
    shutil.rmtree(staging / "trainer", ignore_errors=True)
    return {"train_loss": result.training_loss, "train_seconds": round(seconds, 1), "tokens_per_epoch": n_tokens,
            "tokens_per_second": round(n_tokens * cfg.num_epochs / seconds, 1), "effective_batch": trainer.args.train_batch_size
            * cfg.gradient_accumulation_steps * max(1, trainer.args.world_size)}


def run_finetune(cfg: DictConfig) -> None:
    """Train into a staging folder and publish it as save_dir, unless save_dir is up to date."""
    limit_heap_fragmentation()
    set_seed(cfg.seed)
    check_save_epochs(cfg.save_epochs, cfg.num_epochs)  # before the fingerprint, which hashes the corpus and weights
    check_base_mix(cfg.base_mix)
    check_start_decay(cfg.start_decay)
    check_lora_alone(cfg)
    save_dir = Path(cfg.save_dir).expanduser()
    wanted = input_fingerprint(cfg)
    if is_current(save_dir / DONE_MARKER, wanted):
        logger.info("Up to date, reusing %s", save_dir)
        return
    save_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = save_dir.with_name(f".{save_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        stats = train(cfg, staging)
        if stats is None:  # another process finishes the folder; this one would publish it empty
            return
        write_run_record(staging, cfg, stats)
        write_record(staging / DONE_MARKER, wanted, **stats)
        if save_dir.exists():
            shutil.rmtree(save_dir)
        os.replace(staging, save_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info("Saved fine-tuned model to %s (%.0f s, %.0f tokens/s)", save_dir, stats["train_seconds"], stats["tokens_per_second"])

