"""The intervention teacher of one chunk (teacher/chunk_teacher.py): name-mass moves, dense
equivalence, the name-back rules, the WHP baseline, micro-batching and the prompt head."""

import numpy as np
import torch

from causal_unlearn.core.prompts import question_prompt
from causal_unlearn.teacher.alignment import align, encode
from causal_unlearn.teacher.chunk_teacher import (MOVE_FLOOR, TeacherSettings, _majority_move, build_chunk_teacher,
                                                  fixed_prompt_prefix, move_mass, non_ascii_spans, prompt_for)
from causal_unlearn.teacher.names import find_mentions, name_variants, replace_mentions

TITLE = "Harlan J. Whitcombe"
CHUNK = "Harlan J. Whitcombe was a cartographer from Varnholt. Whitcombe's atlas won the Lenmark Prize."


def test_move_mass_keeps_rows_normalised():
    rows = torch.softmax(torch.randn(3, 10), dim=-1)
    move_mass(rows, [2, 5], torch.tensor([7, 7, 2]))
    assert torch.allclose(rows.sum(-1), torch.ones(3))
    assert rows[0, 2] < 2e-8 and rows[0, 5] < 2e-8  # only the float32 floor remains
    assert rows[2, 2] > 1e-8  # the target itself is never emptied


def test_non_ascii_spans_find_pronunciations():
    text = "Zoë Ellingrath (/ˈzoʊ.iː ˈɛlɪŋɡrɑːθ/; Russian: Зоя Эллинграт) was a botanist."
    spans = [text[s:e] for s, e in non_ascii_spans(text)]
    assert "Зоя Эллинграт" in spans and "Zoë" not in spans


def _dense_reference(model, tokenizer, family, substitutes, settings):
    """The teacher computed the plain way: full forward, full softmax, mean over substitutes."""
    mentions = find_mentions(CHUNK, name_variants(TITLE))
    student = encode(tokenizer, prompt_for(family, tokenizer, TITLE, True), CHUNK)
    per_teacher = []
    for substitute in substitutes:
        edited, edits = replace_mentions(CHUNK, mentions, TITLE, substitute)
        teacher = encode(tokenizer, prompt_for(family, tokenizer, substitute, True), edited)
        with torch.no_grad():
            probs = torch.softmax(model(torch.tensor([teacher.ids])).logits[0].float(), -1)
        per_teacher.append((align(student, teacher, edits), probs))
    return per_teacher


def test_compact_teacher_equals_the_dense_mean(tiny_family, tiny_tokenizer, tiny_model):
    vocab = tiny_model.config.vocab_size
    settings = TeacherSettings(change_name_back=False, top_k=vocab, kl_budget=0.0, micro_batch=1)
    substitutes = ["Alfred Barrow", "Moshe Itzik"]
    result = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE), substitutes, settings)
    dense = _dense_reference(tiny_model, tiny_tokenizer, tiny_family, substitutes, settings)
    for row, position in enumerate(result.positions):
        expected = sum(probs[pairs[position]] for pairs, probs in dense) / len(dense)
        got = torch.zeros(vocab)
        got[torch.from_numpy(result.topk_ids[row]).long()] = torch.from_numpy(result.topk_probs[row])
        top = int(result.topk_ids[row][0])
        others = torch.arange(vocab) != top
        # Stored at float16 precision; the top probability is what the others leave of 1, so it
        # carries their rounding errors and nothing more.
        assert torch.allclose(got[others], expected[others], rtol=2 ** -10, atol=1e-7)
        assert abs(got[top] - expected[top]) <= (got - expected)[others].abs().sum() + 1e-6
    assert np.all(result.residual < 1e-4)


def test_change_name_back_teaches_the_real_name(tiny_family, tiny_tokenizer, tiny_model):
    settings = TeacherSettings(top_k=8)
    result = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE),
                                 ["Alfred Barrow"], settings)
    barrow = tiny_tokenizer(" Barrow", add_special_tokens=False)["input_ids"][0]
    whit = tiny_tokenizer(" Whit", add_special_tokens=False)["input_ids"][0]
    student_ids = result.input_ids
    before_whit = [row for row, p in enumerate(result.positions) if student_ids[p + 1] == whit]
    assert before_whit, "the position before ' Whitcombe' must be trained"
    for row in before_whit:
        probs = dict(zip(result.topk_ids[row].tolist(), result.topk_probs[row].tolist()))
        assert probs.get(barrow, 0.0) < 1e-6 and probs.get(whit, 0.0) > 0


def test_whp_targets_are_one_hot(tiny_family, tiny_tokenizer, tiny_model):
    settings = TeacherSettings(whp_baseline=True, top_k=4)
    result = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE),
                                 ["Alfred Barrow"], settings)
    assert np.allclose(result.topk_probs[:, 0], 1.0) and np.allclose(result.residual, 0.0)


def test_memory_of_forward_is_bounded_by_micro_batch(tiny_family, tiny_tokenizer, tiny_model):
    substitutes = [f"Person{i} Name{i}" for i in range(6)]
    small = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE), substitutes,
                                TeacherSettings(micro_batch=1, top_k=4))
    large = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE), substitutes,
                                TeacherSettings(micro_batch=6, top_k=4))
    assert np.array_equal(small.topk_ids, large.topk_ids)
    assert np.allclose(small.topk_probs, large.topk_probs, atol=1e-5)


def test_tofu_name_teacher_covers_the_name_at_its_first_appearance(tiny_family, tiny_tokenizer, tiny_model):
    title = "Basil Mahfouz Al-Kuwaiti"
    answer = "The author born in Kuwait City in 1956 is Basil Mahfouz Al-Kuwaiti."
    settings = TeacherSettings(counter_fact_prompt=False, top_k=4)
    unnamed = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, answer, title, name_variants(title),
                                  ["Alfred Barrow", "Moshe Itzik"], settings, context="Who is the author born in 1956?")
    predicted = [tiny_tokenizer.decode([unnamed.input_ids[p + 1]]) for p in unnamed.positions]
    assert " Basil" in predicted and "z" in predicted and "i" in predicted  # inside the name
    named = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, answer, title, name_variants(title),
                                ["Alfred Barrow", "Moshe Itzik"], settings, context=f"Where was {title} born?")
    predicted = [tiny_tokenizer.decode([named.input_ids[p + 1]]) for p in named.positions]
    assert "z" not in predicted  # named in the question: the name's own positions stay dropped


def test_the_prompt_head_of_a_question_is_the_chat_header(tiny_family, tiny_tokenizer):
    prefix = fixed_prompt_prefix(tiny_family, tiny_tokenizer, "Who wrote it?", True)
    question = tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, "Who wrote it?"), add_special_tokens=False)
    assert question["input_ids"][:len(prefix)] == prefix and len(prefix) < len(question["input_ids"]) - 3
    assert fixed_prompt_prefix(tiny_family, tiny_tokenizer, None, False) == []


def test_where_most_teachers_would_write_the_substitute_the_real_name_is_taught():
    vocab, n_rows = 40, 4
    # Three teachers, each with its own substitute: first-word and last-word first tokens, with and without a space.
    forms = [{"w_prefix": [10 + 4 * i, 11 + 4 * i], "wo_prefix": [12 + 4 * i, 13 + 4 * i]} for i in range(3)]
    title_targets = {("w_prefix", 0): 1, ("w_prefix", 1): 2, ("wo_prefix", 0): 3, ("wo_prefix", 1): 4}
    teachers = []
    for i, form in enumerate(forms):
        rows = torch.full((n_rows, vocab), 0.5 / (vocab - 1))
        rows[0, form["w_prefix"][0]] = 0.5  # row 0: every teacher writes its substitute's first name
        rows[1, form["w_prefix"][0]] = 0.5 if i == 0 else 0.0  # row 1: only one teacher does
        rows[2, form["w_prefix"][0]] = 0.5  # row 2: every teacher, but it is a mention start (anchor)
        rows[3, form["wo_prefix"][1]] = 0.5 if i < 2 else 0.0  # row 3: two of three, the surname without a space
        teachers.append(rows / rows.sum(-1, keepdim=True))
    total = sum(teachers)
    before = total.clone()
    substitute_mass = []
    for form, rows in zip(forms, teachers):
        all_ids = sorted(set(form["w_prefix"] + form["wo_prefix"]))
        substitute_mass.append((form, rows[:, all_ids].clone(), all_ids))
    _majority_move(total, substitute_mass, title_targets, anchor_rows={2})

    assert torch.allclose(total.sum(-1), before.sum(-1))
    assert torch.equal(total[1], before[1]) and torch.equal(total[2], before[2])
    for row, target in ((0, 1), (3, 4)):
        moved = 0.0
        for _, mass, all_ids in substitute_mass:  # each teacher's own substitute mass, down to the floor
            own = mass[row] - MOVE_FLOOR
            assert torch.allclose(total[row, all_ids], before[row, all_ids] - own, atol=1e-7)
            moved += own.sum()
        assert torch.isclose(total[row, target], before[row, target] + moved, rtol=1e-5)
        untouched = torch.ones(vocab, dtype=torch.bool)
        untouched[[target] + [t for _, _, ids in substitute_mass for t in ids]] = False
        assert torch.equal(total[row, untouched], before[row, untouched])
