"""The intervention teacher: exact alignment, name-mass moves, dense equivalence, artifact, CLI."""

import json

import numpy as np
import pytest
import torch

from chunking import sentence_chunks, token_chunks
from intervention import (TeacherSettings, align, build_chunk_teacher, encode, move_mass, non_ascii_spans,
                          prompt_for)
from names import find_mentions, name_variants, replace_mentions
from teacher_artifact import TargetChunk, load_artifact, read_meta, save_artifact

from conftest import run_cli

TITLE = "Harlan J. Whitcombe"
CHUNK = "Harlan J. Whitcombe was a cartographer from Varnholt. Whitcombe's atlas won the Lenmark Prize."


def test_alignment_pairs_identical_text_outside_names(tiny_family, tiny_tokenizer):
    mentions = find_mentions(CHUNK, name_variants(TITLE))
    edited, edits = replace_mentions(CHUNK, mentions, TITLE, "Alfred Barrow")
    student = encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, TITLE, True), CHUNK)
    teacher = encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, "Alfred Barrow", True), edited)
    pairs = align(student, teacher, edits)
    for s_pos, t_pos in pairs.items():
        assert student.ids[s_pos] == teacher.ids[t_pos]
    aligned_text = "".join(tiny_tokenizer.decode([student.ids[p]]) for p in sorted(pairs) if p >= len(student.ids) - 30)
    assert "cartographer from Varnholt" in aligned_text and "Whit" not in aligned_text
    # the last prompt token is paired: it predicts the chunk's first token in both texts
    assert max(p for p, (s, _) in enumerate(student.offsets) if s < student.content_start) in pairs


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
    settings = TeacherSettings(change_name_back=False, top_k=vocab, min_gain=0.0, micro_batch=1)
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


def test_chunking_drops_headers_and_groups_sentences(tiny_tokenizer):
    text = ("Alpha beta gamma delta epsilon one. Alpha beta gamma delta epsilon two.\n\n== Early life ==\n"
            "Alpha beta gamma delta epsilon three. Short line.\nAlpha beta gamma delta epsilon four.")
    assert sentence_chunks(text, 3) == [
        "Alpha beta gamma delta epsilon one. Alpha beta gamma delta epsilon two. Alpha beta gamma delta epsilon three.",
        "Alpha beta gamma delta epsilon four."]
    assert sentence_chunks(text, -1) == [text.strip()]
    for chunk in token_chunks(text, tiny_tokenizer, 20):
        assert len(tiny_tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= 20


def test_artifact_round_trips_and_rejects_tampering(tiny_family, tiny_tokenizer, tiny_model, tmp_path):
    result = build_chunk_teacher(tiny_model, tiny_tokenizer, tiny_family, CHUNK, TITLE, name_variants(TITLE),
                                 ["Alfred Barrow"], TeacherSettings(top_k=4))
    path = tmp_path / "a.teacher.safetensors"
    save_artifact(path, [TargetChunk(TITLE, TITLE, result)], {"N": 1})
    meta, chunks = load_artifact(path)
    assert meta == {"N": 1} and chunks[0].teacher.input_ids == result.input_ids and chunks[0].teacher.text == CHUNK
    assert np.array_equal(chunks[0].teacher.topk_ids, result.topk_ids)
    path.write_bytes(path.read_bytes()[:-50])
    assert read_meta(path) is None or read_meta(path) == {"N": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["a.teacher.safetensors"]  # no temp files left


def _teacher_cli(tmp_path, *extra):
    return run_cli("teacher.py", "model_family=tiny-random", f"save_dir_root={tmp_path}", "teacher.N=2", *extra)


def test_teacher_cli_builds_skips_and_rebuilds_when_inputs_change(tmp_path):
    first = _teacher_cli(tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    path = tmp_path / "tiny-random" / "intervention" / "forget_2_1_2_True_True.teacher.safetensors"
    meta, chunks = load_artifact(path)
    assert meta["N"] == 2 and len(meta["substitutes"]["Zoë Ellingrath"]) == 2 and len(chunks) >= 4
    assert {c.target for c in chunks} == {"Harlan J. Whitcombe", "Zoë Ellingrath"}
    again = _teacher_cli(tmp_path)
    assert "up to date" in again.stdout + again.stderr
    changed = _teacher_cli(tmp_path, "teacher.top_k=8", "teacher.min_gain=0")
    assert "up to date" not in changed.stdout + changed.stderr
    assert load_artifact(path)[1][0].teacher.topk_ids.shape[1] == 8


def test_whp_artifact_name_and_n_check(tmp_path):
    bad = _teacher_cli(tmp_path, "forget_loss=whp", "teacher.whp_baseline=true")
    assert bad.returncode == 1 and "teacher.N=1" in bad.stderr
    good = run_cli("teacher.py", "model_family=tiny-random", f"save_dir_root={tmp_path}", "teacher.N=1",
                   "forget_loss=whp", "teacher.whp_baseline=true")
    assert good.returncode == 0, good.stderr[-2000:]
    assert (tmp_path / "tiny-random" / "whp" / "forget_2_1_whp.teacher.safetensors").is_file()


def test_document_without_the_name_is_refused(tmp_path):
    rows = [{"title": "Ada Quill", "wikipage": "A town with a river and a mill. It grew fast in the last century.",
             "question": "q", "answer": "a"}]
    (tmp_path / "forget_x.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _teacher_cli(tmp_path, f"data_path={tmp_path}", "split=forget_x")
    assert result.returncode == 1 and "never mentions the name" in result.stderr
    assert not list(tmp_path.rglob("*.safetensors"))


def test_tofu_forget01_with_shared_reference_files(tmp_path, shared_tofu_dir):
    reference = shared_tofu_dir.parent / "reference"
    result = _teacher_cli(tmp_path, f"data_path={shared_tofu_dir}", "split=forget01", "input_type=question",
                          "sentence_chunk=-1", "teacher.counter_fact_prompt=false",
                          f"teacher.authors_file={reference / 'tofu_author.txt'}",
                          f"teacher.replace_names={reference / 'replace_name_forget10.json'}",
                          f"teacher.replace_book_names={reference / 'replace_book_names.json'}")
    assert result.returncode == 0, result.stderr[-2000:]
    meta, chunks = load_artifact(tmp_path / "tiny-random" / "intervention" / "forget01_2_False_True.teacher.safetensors")
    assert len(chunks) == 40 and len({c.target for c in chunks}) == 2
    assert all(c.key != c.target for c in chunks)  # TOFU chunks are keyed by question


def test_overlong_chunks_are_split_never_truncated(tiny_tokenizer):
    from chunking import fit_to_budget

    text = " ".join(f"word{i}" for i in range(300)) + ". Another sentence follows here now."
    pieces = fit_to_budget(text, tiny_tokenizer, 40)
    assert len(pieces) > 1
    assert all(len(tiny_tokenizer(p, add_special_tokens=False)["input_ids"]) <= 40 for p in pieces)
    assert " ".join(pieces).split() == text.split()


def test_same_seed_gives_the_identical_artifact(tmp_path):
    for folder in ("a", "b"):
        result = _teacher_cli(tmp_path / folder)
        assert result.returncode == 0, result.stderr[-2000:]
    name = "tiny-random/intervention/forget_2_1_2_True_True.teacher.safetensors"
    assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    meta, chunks = load_artifact(tmp_path / "a" / name)
    for chunk in chunks:  # rows are distributions: top-k mass + residual = 1
        assert np.allclose(chunk.teacher.topk_probs.sum(-1) + chunk.teacher.residual, 1.0, atol=1e-5)


def test_empty_document_is_refused(tmp_path):
    rows = [{"title": "Ada Quill", "wikipage": "   ", "question": "q", "answer": "a"}]
    (tmp_path / "forget_x.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = _teacher_cli(tmp_path, f"data_path={tmp_path}", "split=forget_x")
    assert result.returncode == 1 and "is empty" in result.stderr and "Traceback" not in result.stderr


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


def test_reading_the_prompt_head_once_gives_the_full_forward_logits(tiny_family, tiny_tokenizer, tiny_model):
    from conftest import talkative
    from intervention import fixed_prompt_prefix, next_token_logits

    model = talkative(tiny_model)
    names = ["Alfred Barrow", "Moshe Itzik", "Ann Drummond"]
    texts = [encode(tiny_tokenizer, prompt_for(tiny_family, tiny_tokenizer, name, True), CHUNK[: 40 + 15 * i]).ids
             for i, name in enumerate(names)]  # different lengths: rows are padded
    prefix = fixed_prompt_prefix(tiny_family, tiny_tokenizer, None, True)
    assert len(prefix) > 5 and all(ids[:len(prefix)] == prefix for ids in texts)
    wanted = [list(range(len(prefix), len(ids))) for ids in texts]
    caches = {}
    for micro_batch in (1, 2):
        with_prefix = list(next_token_logits(model, texts, wanted, micro_batch, prefix, caches))
        for ids, positions, rows in zip(texts, wanted, with_prefix):
            with torch.no_grad():
                full = model(torch.tensor([ids])).logits[0, positions].float()
            assert torch.allclose(rows, full, atol=1e-4, rtol=1e-4)
    assert list(caches) == [tuple(prefix)]  # read once, reused by the second call
    # A requested position inside the prefix: the prefix is only shared up to it.
    early = [[3] + w for w in wanted]
    rows = next(next_token_logits(model, texts[:1], early[:1], 1, prefix))
    with torch.no_grad():
        assert torch.allclose(rows, model(torch.tensor([texts[0]])).logits[0, early[0]].float(), atol=1e-4, rtol=1e-4)


def test_the_prompt_head_of_a_question_is_the_chat_header(tiny_family, tiny_tokenizer):
    from intervention import fixed_prompt_prefix
    from prompts import question_prompt

    prefix = fixed_prompt_prefix(tiny_family, tiny_tokenizer, "Who wrote it?", True)
    question = tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, "Who wrote it?"), add_special_tokens=False)
    assert question["input_ids"][:len(prefix)] == prefix and len(prefix) < len(question["input_ids"]) - 3
    assert fixed_prompt_prefix(tiny_family, tiny_tokenizer, None, False) == []


def test_where_most_teachers_would_write_the_substitute_the_real_name_is_taught():
    from intervention import MOVE_FLOOR, _majority_move

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
