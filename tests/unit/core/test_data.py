"""The data loader (core/data.py) reads local {config}.json folders (and the shared TOFU copy) and
refuses bad input clearly."""

import json

import pytest

from causal_unlearn.core.data import encode_with_labels, load_split, require_fields, unique_documents
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import render_chat


def write_rows(folder, name, rows):
    (folder / f"{name}.json").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_reads_json_lines_and_json_arrays(tmp_path):
    write_rows(tmp_path, "forget_2_1", [{"title": "A", "wikipage": "A is.", "question": "q", "answer": "a"}])
    (tmp_path / "general_retain.json").write_text(json.dumps([{"question": "q", "answer": "a"}]))
    assert load_split(str(tmp_path), "forget_2_1")[0]["title"] == "A"
    assert load_split(str(tmp_path), "general_retain") == [{"question": "q", "answer": "a"}]


def test_unknown_split_lists_the_available_ones(tmp_path):
    write_rows(tmp_path, "forget_2_1", [{"question": "q", "answer": "a"}])
    write_rows(tmp_path, "retain", [{"question": "q", "answer": "a"}])
    with pytest.raises(UserError, match=r"Unknown split 'forget_2_9'.*Available: forget_2_1, retain"):
        load_split(str(tmp_path), "forget_2_9")


def test_missing_local_folder_is_a_clear_error():
    with pytest.raises(UserError, match="does not exist"):
        load_split("./no/such/folder", "forget_2_1")


def test_non_utf8_and_broken_lines_name_the_file(tmp_path):
    (tmp_path / "bad.json").write_bytes(b'{"question": "caf\xe9"}\n')
    with pytest.raises(UserError, match="not valid UTF-8"):
        load_split(str(tmp_path), "bad")
    (tmp_path / "broken.json").write_text('{"question": "q"}\n{oops\n')
    with pytest.raises(UserError, match=r"broken.json:2 is not valid JSON"):
        load_split(str(tmp_path), "broken")


def test_require_fields_names_the_missing_field():
    with pytest.raises(UserError, match="row 1 lacks field"):
        require_fields([{"question": "q", "answer": "a"}, {"question": "q"}], ["question", "answer"], "split x")
    with pytest.raises(UserError, match="is empty"):
        require_fields([], ["question"], "split x")


def test_embedded_world_loads_with_wpu_schema():
    rows = load_split("data/wpu_mini", "forget_2_1")
    assert {"title", "wikipage", "question", "answer"} <= set(rows[0])  # and answer_type, for the answer judge
    assert len(unique_documents(rows)) == 2


def test_reads_the_shared_tofu_copy(shared_tofu_dir):
    forget = load_split(str(shared_tofu_dir), "forget01")
    assert len(forget) == 40 and set(forget[0]) == {"question", "answer"}
    perturbed = load_split(str(shared_tofu_dir), "forget01_perturbed")
    assert len(perturbed[0]["perturbed_answer"]) == 5 and "paraphrased_question" in perturbed[0]
    assert len(load_split(str(shared_tofu_dir), "world_facts_perturbed")) == 117


def test_labels_cover_exactly_the_answers(tiny_family, tiny_tokenizer):
    chat = render_chat(tiny_family, tiny_tokenizer, [("Where was he born?", "He was born in Varnholt."), ("When?", "In 1921.")])
    encoded = encode_with_labels(tiny_tokenizer, chat.text, chat.answer_spans, max_length=512)
    labelled = [token for token in encoded["labels"] if token != -100]
    decoded = tiny_tokenizer.decode(labelled)
    assert decoded == "He was born in Varnholt.<|im_end|>In 1921.<|im_end|>"
    assert len(encoded["labels"]) == len(encoded["input_ids"])


def test_a_field_that_is_not_text_is_one_clear_error():
    rows = [{"title": "Ada Quill", "wikipage": "Ada Quill is a potter."}, {"title": 1950, "wikipage": "A year."}]
    with pytest.raises(UserError, match=r"row 1: field 'title' is 1950, not text"):
        require_fields(rows, ["title", "wikipage"], "forget split 'forget_x'")
