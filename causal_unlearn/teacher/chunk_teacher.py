"""The causal-intervention teacher for one chunk of text.

For each of N substitute names the target's name is swapped in the chunk (and in the
counterfactual prompt), the model reads the N edited texts, and its next-token distributions
are aligned back to the original tokens (alignment.py). Where a teacher predicts the
substitute's name, that probability is moved back onto the real name. The N aligned
distributions are averaged and kept in compact form (compaction.py: per position the fewest top
tokens that bring the KL to the full rows under kl_budget, plus the residual mass).
"""

from dataclasses import dataclass

import numpy as np
import torch

from causal_unlearn.core.prompts import question_prompt
from causal_unlearn.teacher.alignment import (Encoded, align, encode, mention_first_tokens, token_positions_in,
                                              tokens_overlapping, word_first_tokens)
from causal_unlearn.teacher.artifact import ChunkTeacher
from causal_unlearn.teacher.compaction import compact_rows
from causal_unlearn.teacher.forward import next_token_logits
from causal_unlearn.teacher.name_teacher import name_teacher
from causal_unlearn.teacher.names import find_mentions, replace_mentions
from causal_unlearn.teacher.other_persons import other_person_spans

COUNTERFACTUAL_PROMPT = "Complete the following passage about {name}."
MOVE_FLOOR = 1e-8  # mass left on a substitute token after moving it (keeps log-probs finite)
MAJORITY_THRESHOLD = 0.1  # a teacher "predicts the substitute" when it gives it this much mass
WHP_PENALTY = 5.0


def prompt_for(family, tokenizer, name: str, use_prompt: bool) -> str:
    return question_prompt(family, tokenizer, COUNTERFACTUAL_PROMPT.format(name=name)) if use_prompt else ""


def move_mass(rows: torch.Tensor, from_ids: list[int], to_ids: torch.Tensor) -> None:
    """In place: move the mass of `from_ids` (above a floor) onto each row's `to_ids` token."""
    for token in set(from_ids):
        keep = to_ids != token
        moved = (rows[:, token] - MOVE_FLOOR).clamp(min=0) * keep
        rows[:, token] -= moved
        rows[torch.arange(len(rows), device=rows.device), to_ids] += moved


PREFIX_MARK = "\ue000"  # stands in for the variable part of a prompt when its fixed head is cut out


def fixed_prompt_prefix(family, tokenizer, context: str | None, use_prompt: bool) -> list[int]:
    """Token ids of the prompt text before its variable part (the substitute's name, or TOFU's question).

    Identical for every substitute and chunk, so next_token_logits reads it once. A token the
    tokenizer would merge across the cut is not shared: next_token_logits keeps only the ids
    every real sequence begins with.
    """
    if context is None and not use_prompt:
        return []
    text = _prompt(family, tokenizer, PREFIX_MARK, PREFIX_MARK if context is not None else None, use_prompt)
    # The space before the name belongs to the name's first token.
    return tokenizer(text[:text.index(PREFIX_MARK)].rstrip(" "), add_special_tokens=False)["input_ids"]


@dataclass(frozen=True)
class TeacherSettings:
    counter_fact_prompt: bool = True
    change_name_back: bool = True
    whp_baseline: bool = False
    drop_non_ascii: bool = False  # WPU: pronunciations and foreign-script spans are not trained
    top_k: int = 16384  # most tokens kept per position (flat rows of unfamiliar persons need ~8k to meet the budget)
    kl_budget: float = 1e-3  # KL(full || stored) allowed, nats; 0 = keep top_k
    kl_budget_scope: str = "chunk"  # spent on the chunk's mean KL ("chunk") or on each position's ("position")
    micro_batch: int = 4


def non_ascii_spans(text: str, min_length: int = 4) -> list[tuple[int, int]]:
    """Runs of non-ASCII characters (ASCII spaces inside a run do not end it), longer than 3 chars."""
    spans, start = [], None
    for index, char in enumerate(text + "a"):
        if not char.isascii():
            start = index if start is None else start
        elif start is not None and not char.isspace():
            end = len(text[start:index].rstrip()) + start
            if end - start >= min_length:
                spans.append((start, end))
            start = None
    return spans


def _predicts_span(encoded: Encoded, spans: list[tuple[int, int]]) -> set[int]:
    """Positions whose next token overlaps one of the chunk-relative character spans."""
    return {p - 1 for p in tokens_overlapping(encoded, spans) if p > 0}


def _title_targets(tokenizer, title: str) -> dict[tuple[str, int], int]:
    """(form, word index) -> first token of the title's first (0) or last (1) word in that form."""
    words = title.split()
    forms = word_first_tokens(tokenizer, [words[0], words[-1]])
    return {(form, k): ids[k] for form, ids in forms.items() for k in (0, 1)}


def _prompt(family, tokenizer, name: str, context: str | None, use_prompt: bool) -> str:
    """The text before the chunk: the QA question (TOFU), the counterfactual prompt, or nothing."""
    if context is not None:
        return question_prompt(family, tokenizer, context)
    return prompt_for(family, tokenizer, name, use_prompt)


def build_chunk_teacher(model, tokenizer, family, chunk: str, title: str, variants: list[str],
                        substitutes: list[str], settings: TeacherSettings, context: str | None = None,
                        works: dict[str, list[str]] | None = None, prefix_caches: dict | None = None) -> ChunkTeacher | None:
    """Averaged, name-corrected teacher distributions for one chunk, compacted; None if nothing is trainable.

    `context` (TOFU) is the question the chunk answers; its names are swapped too. `works` maps
    a work title to its alternatives, the i-th one used with the i-th substitute. `prefix_caches`
    (a dict the caller keeps while the model is unchanged) lets every chunk reuse the prompt
    head's KV cache.
    """
    rows = chunk_teacher_rows(model, tokenizer, family, chunk, title, variants, substitutes, settings, context, works,
                              prefix_caches)
    if rows is None:
        return None
    input_ids, positions, averaged = rows
    ids, probs, residual, kept = compact_rows(averaged, settings.top_k, settings.kl_budget, settings.kl_budget_scope)
    return ChunkTeacher(chunk, input_ids, np.asarray(positions, dtype=np.int32), ids, probs, residual, kept)


@dataclass
class EditedVersion:
    """The chunk (and TOFU question) as one teacher reads it: the target's mentions swapped for a substitute."""

    substitute: str
    text: str
    edits: list  # names.Edit: where each swap landed in `text`
    context: str | None  # the edited question (TOFU), else None


def chunk_mentions(chunk: str, title: str, variants: list[str], works: dict[str, list[str]],
                   context: str | None = None) -> tuple[list, list]:
    """The target's (and works') mentions in the chunk and in its question, other persons' names left alone."""
    def mentions_in(text: str) -> list:
        return find_mentions(text, variants, list(works), other_person_spans(text, title))

    return mentions_in(chunk), (mentions_in(context) if context is not None else [])


def edited_versions(chunk: str, title: str, substitutes: list[str], mentions: tuple[list, list],
                    works: dict[str, list[str]] | None = None, context: str | None = None) -> list[EditedVersion]:
    """One edited version per substitute: the i-th substitute, with the i-th alternative of each work.
    `mentions` is chunk_mentions(...) of the chunk and its question."""
    works = works or {}
    mentions, context_mentions = mentions
    versions = []
    for index, substitute in enumerate(substitutes):
        alternatives = {work: options[index] for work, options in works.items()}
        text, edits = replace_mentions(chunk, mentions, title, substitute, alternatives)
        edited_context = None
        if context is not None:
            edited_context, _ = replace_mentions(context, context_mentions, title, substitute, alternatives)
        versions.append(EditedVersion(substitute, text, edits, edited_context))
    return versions


def chunk_teacher_rows(model, tokenizer, family, chunk: str, title: str, variants: list[str],
                       substitutes: list[str], settings: TeacherSettings, context: str | None = None,
                       works: dict[str, list[str]] | None = None,
                       prefix_caches: dict | None = None) -> tuple[list[int], list[int], torch.Tensor] | None:
    """The student's token ids, the trained positions and the full teacher rows (P, V) before compaction."""
    works = works or {}
    mentions, context_mentions = chunk_mentions(chunk, title, variants, works, context)
    student = encode(tokenizer, _prompt(family, tokenizer, title, context, settings.counter_fact_prompt), chunk)
    edited = []
    for version in edited_versions(chunk, title, substitutes, (mentions, context_mentions), works, context):
        prompt = _prompt(family, tokenizer, version.substitute, version.context, settings.counter_fact_prompt)
        encoded = encode(tokenizer, prompt, version.text)
        edited.append((version.substitute, encoded, align(student, encoded, version.edits), version.edits))
    dropped = token_positions_in(student, mentions)
    if settings.drop_non_ascii:
        dropped |= _predicts_span(student, non_ascii_spans(chunk))
    common = set.intersection(*(set(pairs) for _, _, pairs, _ in edited)) - dropped
    positions = sorted(p for p in common if p + 1 < len(student.ids))
    if not positions:
        return None
    logits = next_token_logits(model, [enc.ids for _, enc, _, _ in edited],
                               [[pairs[p] for p in positions] for _, _, pairs, _ in edited], settings.micro_batch,
                               fixed_prompt_prefix(family, tokenizer, context, settings.counter_fact_prompt), prefix_caches)
    name_mentions = [m for m in mentions if m.kind == "name"]
    averaged = _combine(tokenizer, title, student, name_mentions, positions, edited, logits, settings,
                        prompt_names_target=bool(context_mentions) or (context is None and settings.counter_fact_prompt))
    first_appearance = context is not None and not context_mentions and name_mentions and not settings.whp_baseline
    if first_appearance:
        positions, averaged = _add_name_teacher(model, tokenizer, family, student, name_mentions[0], substitutes,
                                                settings, positions, averaged)
    return list(student.ids), positions, averaged


def _add_name_teacher(model, tokenizer, family, student, mention, substitutes, settings, positions, averaged):
    """Merge TOFU's target-name teacher (name_teacher.py) into the chunk's positions."""
    extra = name_teacher(model, tokenizer, family, student, mention, substitutes, settings.micro_batch)
    if extra is None:
        return positions, averaged
    rows = dict(zip(positions, averaged))
    rows.update({p: row for p, row in zip(*extra) if p not in rows and p + 1 < len(student.ids)})
    merged = sorted(rows)
    return merged, torch.stack([rows[p] for p in merged])


def _combine(tokenizer, title, student, mentions, positions, edited, logits, settings, prompt_names_target) -> torch.Tensor:
    """Mean of the N teachers after the change-name-back moves (or WHP's penalty + one-hot)."""
    anchors = mention_first_tokens(student, mentions)
    anchor_rows = [row for row, p in enumerate(positions) if p + 1 in anchors]
    anchor_targets = torch.tensor([student.ids[positions[row] + 1] for row in anchor_rows], dtype=torch.long)
    total = None
    substitute_mass = []  # per teacher: (ids, their probabilities after the anchor move)
    for (substitute, encoded, pairs, edits), rows in zip(edited, logits):
        forms = word_first_tokens(tokenizer, substitute.split())
        all_ids = sorted(set(forms["w_prefix"] + forms["wo_prefix"]))
        if settings.whp_baseline:
            rows = _whp_penalty(rows, encoded, [pairs[p] for p in positions], edits, all_ids, prompt_names_target)
        probs = torch.softmax(rows, dim=-1)
        if settings.change_name_back and not settings.whp_baseline:
            if anchor_rows:
                sub = probs[anchor_rows]
                move_mass(sub, all_ids, anchor_targets.to(probs.device))
                probs[anchor_rows] = sub
            substitute_mass.append((forms, probs[:, all_ids].clone(), all_ids))
        total = probs if total is None else total + probs
    if substitute_mass:
        _majority_move(total, substitute_mass, _title_targets(tokenizer, title), set(anchor_rows))
    mean = total / len(edited)
    if settings.whp_baseline:
        return torch.nn.functional.one_hot(mean.argmax(-1), mean.shape[-1]).float()
    return mean


def _whp_penalty(rows, encoded, teacher_positions, edits, all_ids, prompt_names_target) -> torch.Tensor:
    """WHP's anchor suppression: once the substitute has appeared, lower its first tokens' logits."""
    if prompt_names_target:  # the counterfactual prompt names the substitute before the chunk
        seen = torch.ones(len(teacher_positions), dtype=torch.bool)
    else:
        first_end = (edits[0].new_end + encoded.content_start) if edits else None
        seen = torch.tensor([first_end is not None and encoded.offsets[t][1] >= first_end for t in teacher_positions])
    rows = rows.clone()
    seen = seen.to(rows.device)
    rows[seen.nonzero().squeeze(-1)[:, None], torch.tensor(all_ids, device=rows.device)] -= WHP_PENALTY
    return rows


def _majority_move(total, substitute_mass, title_targets, anchor_rows: set[int]) -> None:
    """Where most teachers would write the substitute's name, teach the real name instead.

    The real-name token is the counterpart of the substitute word form (first or last word,
    with or without a leading space) that received the most mass across teachers.
    """
    n_teachers = len(substitute_mass)
    votes = sum((mass.sum(-1) > MAJORITY_THRESHOLD).float() for _, mass, _ in substitute_mass)
    rows = [r for r in (votes > n_teachers / 2).nonzero().flatten().tolist() if r not in anchor_rows]
    if not rows:
        return
    form_mass = {key: torch.zeros(len(total), device=total.device) for key in title_targets}
    for forms, mass, all_ids in substitute_mass:
        column = {token: c for c, token in enumerate(all_ids)}
        for form, ids in forms.items():
            form_mass[(form, 0)] += mass[:, column[ids[0]]]
            form_mass[(form, 1)] += mass[:, column[ids[-1]]]
    keys = list(form_mass)
    best = torch.stack([form_mass[k] for k in keys], dim=-1).argmax(-1)
    rows = torch.tensor(rows, device=total.device)
    targets = torch.tensor([title_targets[keys[i]] for i in best[rows].tolist()], device=total.device)
    for _, mass, all_ids in substitute_mass:  # whole tensors at once: no host round trip per entry on a GPU
        ids = torch.tensor(all_ids, device=total.device)
        moved = (mass[rows] - MOVE_FLOOR).clamp(min=0.0) * (ids[None, :] != targets[:, None])
        total[rows[:, None], ids[None, :]] -= moved  # a teacher's ids are distinct: no repeated index
        total[rows, targets] += moved.sum(-1)
