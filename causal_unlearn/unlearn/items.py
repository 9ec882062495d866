"""Training items for forget.py: teacher chunks, forget texts, refusals, retain texts.

Every item is a dict of plain lists. Teacher items come straight from the teacher artifact
(the student reads exactly the token ids the teacher was aligned to; nothing is re-split).
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from causal_unlearn.core.data import encode_document, encode_with_labels, load_split, require_fields, unique_documents
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import Family
from causal_unlearn.core.paths import repo_root, resolve_repo_path
from causal_unlearn.core.prompts import render_chat
from causal_unlearn.teacher.artifact import TargetChunk
from causal_unlearn.teacher.chunking import sentence_chunks
from causal_unlearn.teacher.compaction import compact_rows
from causal_unlearn.unlearn.losses import Predictions, sequence_nll


@dataclass
class ForgetContext:
    cfg: DictConfig
    family: Family
    tokenizer: object
    teacher_chunks: list[TargetChunk] | None = None  # read by forget.py for teacher-based methods


def teacher_items(ctx: ForgetContext) -> list[dict]:
    items = []
    for chunk in ctx.teacher_chunks or []:
        t = chunk.teacher
        # Teacher rows stay numpy arrays: a flat row may keep thousands of tokens.
        items.append({"input_ids": t.input_ids, "positions": t.positions.tolist(), "topk_ids": t.topk_ids,
                      "topk_probs": t.topk_probs, "residual": t.residual.tolist(), "doc": chunk.key})
    if not items:
        raise UserError("The teacher artifact holds no chunks; rebuild it with teacher.py.")
    return items


def _forget_rows(ctx: ForgetContext) -> list[dict]:
    rows = load_split(ctx.cfg.data_path, ctx.cfg.split)
    if not rows:
        raise UserError(f"The forget split '{ctx.cfg.split}' is empty; nothing to unlearn.")
    return rows


def _text_item(ctx: ForgetContext, row_or_text, question: str | None = None) -> dict:
    if question is None:
        item = encode_document(ctx.tokenizer, row_or_text, ctx.cfg.max_length)
    else:
        chat = render_chat(ctx.family, ctx.tokenizer, [(question, row_or_text)])
        item = encode_with_labels(ctx.tokenizer, chat.text, chat.answer_spans, ctx.cfg.max_length)
    return item


def text_items(ctx: ForgetContext) -> list[dict]:
    """Forget documents (one per title, truncated to max_length) or forget QA pairs."""
    rows = _forget_rows(ctx)
    if ctx.cfg.input_type == "document":
        require_fields(rows, ["title", "wikipage"], f"forget split '{ctx.cfg.split}'")
        return [{**_text_item(ctx, text), "doc": title} for title, text in unique_documents(rows)]
    require_fields(rows, ["question", "answer"], f"forget split '{ctx.cfg.split}'")
    return [{**_text_item(ctx, row["answer"], row["question"]), "doc": row["question"]} for row in rows]


def load_refusals(path: str | None) -> list[str]:
    """Refusal answers: a text file (one per line) or a JSON-lines file of strings / {"text": ...}."""
    file = Path(resolve_repo_path(path)) if path else repo_root() / "data" / "refusals" / "idontknow.txt"
    if not file.is_file():
        raise UserError(f"refusals file {file} does not exist.")
    lines = [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if file.suffix in (".jsonl", ".json"):
        lines = [value if isinstance(value, str) else value.get("text", "") for value in map(json.loads, lines)]
    return [line for line in lines if line]


def refusal_items(ctx: ForgetContext) -> list[dict]:
    """Forget questions paired with a refusal (seeded choice), for the idk method."""
    rows = _forget_rows(ctx)
    require_fields(rows, ["question"], f"forget split '{ctx.cfg.split}'")
    refusals = load_refusals(ctx.cfg.refusals_file)
    rng = random.Random(ctx.cfg.seed)
    # Steps are counted in documents (WPU: persons), as for the other methods.
    doc_key = "title" if ctx.cfg.input_type == "document" and "title" in rows[0] else "question"
    return [{**_text_item(ctx, rng.choice(refusals), row["question"]), "doc": row[doc_key]} for row in rows]


def preference_items(ctx: ForgetContext) -> list[dict]:
    """Forget questions with the gold answer (rejected) and a refusal (preferred, seeded choice as
    for idk) under "preferred", for DPO."""
    rows = _forget_rows(ctx)
    require_fields(rows, ["question", "answer"], f"forget split '{ctx.cfg.split}'")
    refusals = load_refusals(ctx.cfg.refusals_file)
    rng = random.Random(ctx.cfg.seed)
    doc_key = "title" if ctx.cfg.input_type == "document" and "title" in rows[0] else "question"
    return [{**_text_item(ctx, row["answer"], row["question"]), "doc": row[doc_key],
             "preferred": _text_item(ctx, rng.choice(refusals), row["question"])} for row in rows]


def retain_items(ctx: ForgetContext) -> list[dict]:
    """Retain texts for the retain loss: documents (WPU) or QA pairs (TOFU retain minus its eval set)."""
    split = ctx.cfg.retain_split or _tofu_retain_split(ctx.cfg.split)
    try:
        rows = load_split(ctx.cfg.data_path, split)
    except UserError as err:
        raise UserError(f"retain_strength > 0 needs the retain split '{split}': {err}") from None
    if not rows:
        raise UserError(f"The retain split '{split}' is empty but retain_strength > 0.")
    if ctx.cfg.input_type == "document":
        require_fields(rows, ["title", "wikipage"], f"retain split '{split}'")
        texts = [text for _, text in unique_documents(rows)]
        if ctx.teacher_chunks is not None and ctx.cfg.sentence_chunk != -1:
            # Teacher methods train on sentence chunks; retain texts are chunked the same way, so a
            # retain text costs what a forget chunk costs instead of a whole article per chunk.
            texts = [chunk for text in texts for chunk in sentence_chunks(text, ctx.cfg.sentence_chunk)]
        return [_text_item(ctx, text) for text in texts]
    require_fields(rows, ["question", "answer"], f"retain split '{split}'")
    held_out = _retain_eval_questions(ctx)
    return [_text_item(ctx, row["answer"], row["question"]) for row in rows if row["question"] not in held_out]


def _tofu_retain_split(forget_split: str) -> str:
    digits = "".join(ch for ch in forget_split if ch.isdigit())
    if not digits:
        raise UserError(f"Set retain_split: cannot derive it from forget split '{forget_split}'.")
    return f"retain{100 - int(digits)}"


def _retain_eval_questions(ctx: ForgetContext) -> set[str]:
    """TOFU evaluates retain knowledge on retain_perturbed; keep those questions out of training."""
    try:
        return {row["question"] for row in load_split(ctx.cfg.data_path, "retain_perturbed")}
    except UserError:
        return set()


@torch.no_grad()
def attach_reference_nll(model, items: list[dict]) -> None:
    """Store each item's summed NLL under the initial model ("reference_nll"), so preference losses
    (NPO, DPO) need no second model in memory."""
    was_training = model.training
    model.eval()
    for item in items:
        ids = torch.tensor([item["input_ids"]], device=model.device)
        labels = torch.tensor([item["labels"]], device=model.device)
        item["reference_nll"] = float(sequence_nll(Predictions.of(model(input_ids=ids).logits, labels))[0])
    model.train(was_training)


@torch.no_grad()
def attach_target_distributions(model, items: list[dict], top_k: int, kl_budget: float, label_penalty: float = 0.0,
                                scope: str = "chunk") -> None:
    """Store, at every trained position of each item, the model's next-token distribution in compact
    form (compaction.py), so training can pull the student towards it without a second model in
    memory: the original model on retain texts (retain_loss=kl), or UNDIAL's target, the same with
    the labelled token's logit lowered by `label_penalty`. The KL budget is spent per item (`scope`
    "chunk") or per position, as the teacher's."""
    for item in items:
        ids = torch.tensor([item["input_ids"]], device=model.device)
        labels = torch.tensor(item["labels"][1:])
        positions = (labels != -100).nonzero().squeeze(-1)
        logits = model(input_ids=ids).logits[0, :-1].float()[positions.to(model.device)]
        if label_penalty:
            logits[torch.arange(len(positions)), labels[positions].to(model.device)] -= label_penalty
        top_ids, top_probs, residual, _ = compact_rows(torch.softmax(logits, dim=-1), top_k, kl_budget, scope)
        item["positions"] = positions.tolist()
        item["topk_ids"], item["topk_probs"], item["residual"] = top_ids, top_probs, residual.tolist()


def attach_retain(items: list[dict], retain: list[dict], seed: int) -> None:
    """Pair each forget item with one retain item: a seeded shuffle dealt round-robin, so as many
    distinct retain items as possible are used (and the pairing is stable across resumes)."""
    order = list(range(len(retain)))
    random.Random(seed).shuffle(order)
    for index, item in enumerate(items):
        item["retain"] = retain[order[index % len(order)]]
