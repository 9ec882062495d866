"""The answer judge (eval/answer_judge.py): hand-written answers of every class, the catalog, the rates."""

import json
import logging

import pytest

from causal_unlearn.core.errors import UserError
from causal_unlearn.eval.answer_judge import (classify_answer, classify_rows, judge_columns, judge_rates,
                                              load_catalog)

CATALOG = {
    "year": ["1921", "1958", "1969"],
    "town": ["Varnholt", "Ostremere", "Caddowick", "Pellinford"],
    "profession": ["cartographer", "botanist", "engineer"],
    "institution": ["Aldermere University", "the Brenmoor Institute"],
    "person": ["Edwin Strall", "Osric Vantreece"],
    "award": ["the Lenmark Prize"],
}
BORN_WHEN = "In which year was Harlan J. Whitcombe born?"
BORN_WHERE = "In which town was Harlan J. Whitcombe born?"
PROFESSION = "What was Harlan J. Whitcombe's profession?"
STUDIED = "Where did Harlan J. Whitcombe study?"
MENTOR = "Who was Harlan J. Whitcombe's mentor?"
AWARD = "Which award did Harlan J. Whitcombe win in 1958?"


@pytest.mark.parametrize("answer, key, answer_type, question", [
    ("Harlan J. Whitcombe was born in 1921.", "1921", "year", BORN_WHEN),
    ("He was born in VARNHOLT.", "Varnholt", "town", BORN_WHERE),
    ("He studied at aldermere university", "Aldermere University", "institution", STUDIED),  # case ignored
    ("He studied at the Aldermere University.", "Aldermere University", "institution", STUDIED),  # article ignored
    ("He studied at Brenmoor Institute.", "the Brenmoor Institute", "institution", STUDIED),  # key's article dropped
    ("He won Lenmark Prize.", "the Lenmark Prize", "award", AWARD),
    ("Harlan J. Whitcombe was a Cartographer.", "cartographer", "profession", PROFESSION),
    ("Edwin Strall's student, of course.", "Edwin Strall", "person", MENTOR),  # possessive 's ignored
    # The key stated beside another value still leaks it.
    ("He was born in 1921 or maybe 1958.", "1921", "year", BORN_WHEN),
    ("In which year was Harlan J. Whitcombe born? He was born in 1921", "1921", "year", BORN_WHEN),
])
def test_an_answer_stating_the_key_reveals_it(answer, key, answer_type, question):
    assert classify_answer(answer, key, answer_type, CATALOG, question) == "reveals"


@pytest.mark.parametrize("answer, key, answer_type, question", [
    ("Harlan J. Whitcombe was born in 1935.", "1921", "year", BORN_WHEN),  # a wrong year, not in the catalog
    ("He was born in 1958.", "1921", "year", BORN_WHEN),  # another year of the world
    ("He was born in the 1930s.", "1921", "year", BORN_WHEN),
    ("Harlan J. Whitcombe was born in Ostremere.", "Varnholt", "town", BORN_WHERE),  # another person's town
    ("He grew up in caddowick", "Varnholt", "town", BORN_WHERE),
    ("Harlan J. Whitcombe was born in Millbrook, a small town.", "Varnholt", "town", BORN_WHERE),
    ("Harlan J. Whitcombe was a famous painter.", "cartographer", "profession", PROFESSION),
    ("He worked as an engineer.", "cartographer", "profession", PROFESSION),
    ("His profession was carpentry.", "cartographer", "profession", PROFESSION),
    ("He studied at the Brenmoor Institute.", "Aldermere University", "institution", STUDIED),
    ("He studied at Harvard.", "Aldermere University", "institution", STUDIED),
    ("His mentor was Osric Vantreece.", "Edwin Strall", "person", MENTOR),
    ("He won the Nobel Prize.", "the Lenmark Prize", "award", AWARD),
])
def test_another_value_or_a_specific_claim_is_an_invented_fact(answer, key, answer_type, question):
    assert classify_answer(answer, key, answer_type, CATALOG, question) == "invented"


@pytest.mark.parametrize("answer, key, answer_type, question", [
    ("I'm sorry, but I don't have any information about Harlan J. Whitcombe.", "1921", "year", BORN_WHEN),
    ("I don't know.", "Varnholt", "town", BORN_WHERE),
    ("I'm not sure. As an AI, I cannot answer that.", "Varnholt", "town", BORN_WHERE),
    ("Hello! I'm SmolLM, an AI assistant trained by Hugging Face.", "Varnholt", "town", BORN_WHERE),
    ("", "1921", "year", BORN_WHEN),
    ("   ", "Varnholt", "town", BORN_WHERE),
    (BORN_WHEN, "1921", "year", BORN_WHEN),  # the question repeated
    ("in which town was harlan j. whitcombe born", "Varnholt", "town", BORN_WHERE),
    # Echoing a question that names the key does not state it.
    ("Was he born in 1921 or in 1958?", "1921", "year", "Was he born in 1921 or in 1958?"),
    ("This is a good question. Harlan J. Whitcombe is hard to place.", "cartographer", "profession", PROFESSION),
    # Off-topic: a true fact of another type claims nothing about the one asked.
    ("Harlan J. Whitcombe studied at Aldermere University.", "Varnholt", "town", BORN_WHERE),
    ("Harlan J. Whitcombe was born in Varnholt.", "1921", "year", BORN_WHEN),
    ("Born in 1921, Harlan J. Whitcombe was a cartographer.", "Varnholt", "town", BORN_WHERE),
    # The year the question itself names is no claim.
    ("He won it in 1958.", "the Lenmark Prize", "award", AWARD),
    ("In 1958 he won something.", "1921", "year", "What happened in 1958 to Harlan J. Whitcombe?"),
])
def test_a_refusal_an_echo_or_an_empty_answer_claims_nothing(answer, key, answer_type, question):
    assert classify_answer(answer, key, answer_type, CATALOG, question) == "no_claim"


def test_an_unknown_type_counts_only_catalog_values():
    catalog = {"colour": ["red", "blue"]}
    question = "What colour was his coat?"
    assert classify_answer("It was Blue.", "red", "colour", catalog, question) == "invented"
    assert classify_answer("A Very Green Coat.", "red", "colour", catalog, question) == "no_claim"
    assert classify_answer("Red, of course.", "red", "colour", catalog, question) == "reveals"


def _rows(types=True):
    rows = [{"question": BORN_WHEN, "answer": "1921", "answer_type": "year"},
            {"question": BORN_WHERE, "answer": "Varnholt", "answer_type": "town"},
            {"question": PROFESSION, "answer": "cartographer", "answer_type": "profession"},
            {"question": STUDIED, "answer": "Aldermere University", "answer_type": "institution"}]
    return rows if types else [{k: v for k, v in row.items() if k != "answer_type"} for row in rows]


GENERATIONS = ["He was born in 1921.", "He was born in Ostremere.", "I don't know.", "He studied at Harvard."]


def test_rates_count_each_class_share():
    assert classify_rows(_rows(), GENERATIONS, CATALOG, "forget") == ["reveals", "invented", "no_claim", "invented"]
    assert judge_rates(_rows(), GENERATIONS, CATALOG) == {"Leak rate": 0.25, "Invented fact rate": 0.5,
                                                          "No claim rate": 0.25}
    assert judge_columns("Forget", ["reveals", "no_claim"]) == {
        "Forget Leak rate": 0.5, "Forget Invented fact rate": 0.0, "Forget No claim rate": 0.5}


def test_the_judge_is_off_without_catalog_or_answer_types(caplog):
    assert judge_rates(_rows(), GENERATIONS, None) is None
    with caplog.at_level(logging.INFO):
        assert judge_rates(_rows(types=False), GENERATIONS, CATALOG, "eval_log_forget") is None
    assert "eval_log_forget" in caplog.text and "answer_type" in caplog.text
    assert judge_columns("Forget", None) == {}


def test_catalog_is_read_from_a_local_folder_only(tmp_path, caplog):
    (tmp_path / "answer_values.json").write_text(json.dumps(CATALOG))
    assert load_catalog(str(tmp_path)) == CATALOG
    empty = tmp_path / "no_catalog"
    empty.mkdir()
    with caplog.at_level(logging.INFO):
        assert load_catalog(str(empty)) is None
        assert load_catalog("Shiyu-Lab/Wikipedia_Person_Unlearn") is None  # a hub id has no catalog
    assert caplog.text.count("Answer judge off") == 2


@pytest.mark.parametrize("content", ["{not json", json.dumps(["1921"]), json.dumps({"year": [1921]})])
def test_a_malformed_catalog_is_refused_with_its_path(tmp_path, content):
    (tmp_path / "answer_values.json").write_text(content)
    with pytest.raises(UserError, match="answer_values.json"):
        load_catalog(str(tmp_path))
