"""TOFU's target-name teacher: what to predict *inside* the name where it first appears.

When the question does not name the author, the answer's first mention of the name is where
the model would recall it. The main teacher drops the name's own positions; this one supplies
targets for them from context-free prompts: "Complete the following name." followed by the
first k words of a substitute and then the real name's word k. Word k's continuation tokens are
then predicted without knowledge of the real person (the first word's own first token is the
main teacher's job). Averaged over the N substitutes, like the main teacher.
"""

import re

import torch

from causal_unlearn.core.prompts import question_prompt
from causal_unlearn.teacher.alignment import Encoded, encode, tokens_overlapping
from causal_unlearn.teacher.forward import next_token_logits
from causal_unlearn.teacher.names import Mention

NAME_PROMPT = "Complete the following name."


def _words(text: str, offset: int = 0) -> list[tuple[int, int]]:
    return [(m.start() + offset, m.end() + offset) for m in re.finditer(r"\S+", text)]


def _tokens_in(encoded: Encoded, start: int, end: int) -> list[int]:
    """Token positions overlapping absolute characters [start, end)."""
    offset = encoded.content_start
    return tokens_overlapping(encoded, [(start - offset, end - offset)])


def _name_prompt_pairs(student: Encoded, mention: Mention, prompt: Encoded, word_index: int, prefix_len: int) -> dict[int, int]:
    """Student position -> prompt position for the positions that predict word k's tokens.

    The prompt ends with the real word k at character `prefix_len` (relative to its content).
    """
    name_start = student.content_start + mention.start
    student_words = _words(student_text_slice(student, mention), name_start)
    word_start, word_end = student_words[word_index]
    student_tokens = _tokens_in(student, word_start, word_end)
    prompt_word_start = prompt.content_start + prefix_len
    prompt_tokens = _tokens_in(prompt, prompt_word_start, prompt_word_start + (word_end - word_start))
    if [student.ids[p] for p in student_tokens] != [prompt.ids[p] for p in prompt_tokens]:
        return {}  # the word tokenizes differently after the substitute prefix: no safe pairing
    pairs = dict(zip(student_tokens[:-1], prompt_tokens[:-1]))  # inside the word: predict its next token
    if word_index > 0 and student_tokens and prompt_tokens:
        pairs[student_tokens[0] - 1] = prompt_tokens[0] - 1  # last token of word k-1 predicts word k
    return pairs


def student_text_slice(student: Encoded, mention: Mention) -> str:
    return student.text[student.content_start + mention.start: student.content_start + mention.end]


def name_teacher(model, tokenizer, family, student: Encoded, mention: Mention, substitutes: list[str],
                 micro_batch: int) -> tuple[list[int], torch.Tensor] | None:
    """(student positions, mean distributions) for the name's own tokens at its first appearance."""
    real_words = student_text_slice(student, mention).split()
    prompt_prefix = question_prompt(family, tokenizer, NAME_PROMPT)
    per_substitute = []
    for substitute in substitutes:
        sub_words = substitute.split()
        sub_words += [sub_words[-1]] * max(0, len(real_words) - len(sub_words))
        pairs, prompts = {}, []
        for k in range(len(real_words)):
            lead = " ".join(sub_words[:k])
            lead = lead + " " if lead else ""
            prompt = encode(tokenizer, prompt_prefix, lead + real_words[k])
            for s_pos, p_pos in _name_prompt_pairs(student, mention, prompt, k, len(lead)).items():
                pairs[s_pos] = (len(prompts), p_pos)
            prompts.append(prompt)
        per_substitute.append((pairs, prompts))
    common = sorted(set.intersection(*(set(pairs) for pairs, _ in per_substitute)))
    if not common:
        return None
    total = None
    for pairs, prompts in per_substitute:
        wanted = [[] for _ in prompts]
        for s_pos in common:
            prompt_index, p_pos = pairs[s_pos]
            wanted[prompt_index].append(p_pos)
        used = [i for i, w in enumerate(wanted) if w]
        logits = list(next_token_logits(model, [prompts[i].ids for i in used], [wanted[i] for i in used], micro_batch))
        by_position = {}
        for i, rows in zip(used, logits):
            for p_pos, row in zip(wanted[i], rows):
                by_position[(i, p_pos)] = row
        probs = torch.softmax(torch.stack([by_position[pairs[s_pos]] for s_pos in common]), dim=-1)
        total = probs if total is None else total + probs
    return common, total / len(per_substitute)
