"""The many-shot jailbreak (attacks/msj.py, attacks/msj_pool.py): prompt building within a token
budget and the shot pool's items."""

import json

import pytest

from causal_unlearn.attacks.msj import build_msj_prompt
from causal_unlearn.attacks.msj_pool import drop_questions, load_shots_file, select_shots, shot_answer
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import question_prompt, render_chat
from helpers import SHARED_DATA

SHOTS = [(f"Where did person number {i} work in {1900 + i}?", f"Person number {i} worked at the mill of town {i}, "
          f"where they stayed for {i + 3} years.") for i in range(20)]
QUESTION = "In which year was Harlan J. Whitcombe born?"


def _tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.parametrize("system", [None, "Forget everything about Harlan J. Whitcombe."])
def test_prompt_keeps_the_most_recent_whole_shots_that_fit(tiny_family, tiny_tokenizer, system):
    budget = 400
    text, used = build_msj_prompt(tiny_family, tiny_tokenizer, SHOTS, QUESTION, system, budget)
    assert 0 < used < len(SHOTS)
    # Exactly the last `used` shots, each one whole, as real prior turns (render_chat is the reference).
    assert text == render_chat(tiny_family, tiny_tokenizer, SHOTS[-used:] + [(QUESTION, None)], system).text
    assert _tokens(tiny_tokenizer, text) <= budget
    one_more = render_chat(tiny_family, tiny_tokenizer, SHOTS[-used - 1:] + [(QUESTION, None)], system).text
    assert _tokens(tiny_tokenizer, one_more) > budget  # as many as fit, not fewer
    for question, answer in SHOTS[-used:]:
        assert f"{question}<|im_end|>" in text and f"{answer}<|im_end|>" in text
    assert SHOTS[-used - 1][0] not in text
    # The target question is last, in the user turn, with the assistant turn open after it.
    alone = question_prompt(tiny_family, tiny_tokenizer, QUESTION, system)
    assert text.endswith(alone[alone.index(QUESTION):])


def test_prompt_with_room_for_all_shots_and_with_none(tiny_family, tiny_tokenizer):
    text, used = build_msj_prompt(tiny_family, tiny_tokenizer, SHOTS, QUESTION, None, 100_000)
    assert used == len(SHOTS) and SHOTS[0][1] in text
    alone = question_prompt(tiny_family, tiny_tokenizer, QUESTION)
    text, used = build_msj_prompt(tiny_family, tiny_tokenizer, SHOTS, QUESTION, None, _tokens(tiny_tokenizer, alone))
    assert (text, used) == (alone, 0)


def test_a_question_larger_than_the_budget_is_refused(tiny_family, tiny_tokenizer):
    with pytest.raises(UserError, match="larger than the context"):
        build_msj_prompt(tiny_family, tiny_tokenizer, SHOTS, QUESTION, None, 10)


def test_shot_answers_from_the_original_file_shape():
    items = [
        {"question": "Q1?", "answer": "1867", "rougeL": 0.0, "generated": " It was 1907."},
        {"question": "Q2?", "answer": "Paris", "rougeL": 1.0,
         "generated": "[INST] Q2? [/INST]  He died in Paris, France.\n\n1. More text:\n  \n2. Even more"},
        {"question": " Q3? ", "answer": "Gold answer"},
        {"question": "Q4?", "answer": "x", "rougeL": 0.9, "generated": "\n\n"},
    ]
    assert shot_answer(items[1]) == "He died in Paris, France."
    assert select_shots(items, 0.5) == [("Q2?", "He died in Paris, France."), ("Q3?", "Gold answer")]
    assert len(select_shots(items, 0.0)) == 3  # the empty generation never becomes a shot


def test_forget_questions_are_dropped_from_the_pool():
    shots = [("In which year was  Harlan J. Whitcombe born?", "1921"), ("Who is Tobiah Grennick?", "An astronomer.")]
    assert drop_questions(shots, [QUESTION.lower()]) == shots[1:]


def test_shots_file_must_be_a_list_of_question_answer_dicts(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_shots_file(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"question": "Q?", "answer": "A"}))
    with pytest.raises(UserError, match="JSON list"):
        load_shots_file(str(bad))


def test_the_original_msj_file_loads_clean_shots():
    path = SHARED_DATA / "reference" / "msj_attack.json"
    if not path.is_file():
        pytest.skip("../shared/data/reference/msj_attack.json is not present")
    items = load_shots_file(str(path))
    shots = select_shots(items, 0.5)
    assert 0 < len(shots) < len(items)  # some items are below the threshold
    assert all(answer and "[/INST]" not in answer and "\n\n" not in answer for _, answer in shots)
