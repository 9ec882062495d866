"""How many optimizer steps a forget run takes, and how its batches are cut."""

import math

from omegaconf import DictConfig, OmegaConf

from causal_unlearn.core.data import load_split
from causal_unlearn.core.distributed import world_size


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


def epoch_checkpoints(cfg: DictConfig) -> tuple[int, int]:
    """(steps per epoch, checkpoints to keep them all) of a QA-pair run (one item per forget question)."""
    items = [{"doc": question} for question in {row["question"] for row in load_split(cfg.data_path, cfg.split)}]
    per_epoch = step_plan(OmegaConf.merge(cfg, {"num_epochs": 1}), items, chunked=False)["max_steps"]
    total = step_plan(cfg, items, chunked=False)["max_steps"]
    return per_epoch, math.ceil(total / per_epoch) + 1
