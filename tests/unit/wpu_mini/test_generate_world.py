"""Checks of the WPU-mini world generator (data/wpu_mini/generate_world.py) and of its committed output."""

import importlib.util
import json
import re
import sys
import unicodedata

import pytest

from helpers import REPO

GENERATOR_PATH = REPO / "data" / "wpu_mini" / "generate_world.py"

WPU_KEYS = ["title", "wikipage", "question", "answer"]
WPU_CONFIGS = [
    "forget_2_1",
    "forget_2_1_hard_retain",
    "forget_2_2",
    "forget_2_2_hard_retain",
    "retain",
    "general_retain_candidates",
    "general_retain",
]
ARTICLE_CONFIGS = [name for name in WPU_CONFIGS if not name.startswith("general")]
PRONOUN = re.compile(r"\b(he|she|his|her|him)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def generator():
    spec = importlib.util.spec_from_file_location("generate_world", GENERATOR_PATH)
    module = importlib.util.module_from_spec(spec)
    # Dataclasses look their module up in sys.modules while being created.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def world(generator):
    return generator.build_world(generator.load_kept_questions())


def word_count(text: str) -> int:
    return len([token for token in text.split() if token != "=="])


def rows_by_title(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row["title"], []).append(row)
    return grouped


def test_build_is_deterministic_and_matches_committed_files(generator, world):
    assert generator.build_world(generator.load_kept_questions()) == world
    for name, rows in world.items():
        path = GENERATOR_PATH.parent / f"{name}.json"
        assert path.read_text(encoding="utf-8") == generator.serialize_rows(rows), (
            f"{path.name} is out of date: run python data/wpu_mini/generate_world.py"
        )


def test_wpu_configs_have_wpu_schema(world):
    for name in WPU_CONFIGS:
        assert world[name], name
        for row in world[name]:
            # Rows about the world also carry the answer's type, for the offline answer judge.
            assert list(row) == WPU_KEYS + (["answer_type"] if name in ARTICLE_CONFIGS else []), name
            assert all(isinstance(value, str) for value in row.values())
            assert row["title"] and row["question"] and row["answer"]
            if name in ARTICLE_CONFIGS:
                assert row["wikipage"]
            else:
                assert row["wikipage"] == ""


def test_implant_configs_have_their_schema(world):
    for row in world["implant_documents"]:
        assert list(row) == ["title", "text"]
        assert row["title"] and row["text"]
    for row in world["implant_qa"]:
        assert list(row) == ["title", "question", "answer"]
        assert row["title"] and row["question"] and row["answer"]


def test_row_counts(world):
    for split in ("forget_2_1", "forget_2_2"):
        persons = rows_by_title(world[split])
        assert len(persons) == 2
        assert all(len(rows) >= 12 for rows in persons.values())
        assert len(world[f"{split}_hard_retain"]) >= 12
    retain_persons = rows_by_title(world["retain"])
    assert len(retain_persons) == 4
    assert all(len(rows) >= 5 for rows in retain_persons.values())
    replay = [row for row in world["implant_qa"] if row["title"] == "general"]
    assert len(replay) >= 32


def test_each_title_has_one_article(world):
    for name in ARTICLE_CONFIGS:
        for title, rows in rows_by_title(world[name]).items():
            assert len({row["wikipage"] for row in rows}) == 1, (name, title)


def test_short_answers_are_verbatim_in_article_and_full_answer(world, generator):
    full_answers = {row["question"]: row["answer"] for row in world["implant_qa"]}
    for name in ARTICLE_CONFIGS:
        for row in world[name]:
            assert row["answer"] in row["wikipage"], (name, row["question"])
            implanted = full_answers[generator.implant_question(row["question"])]
            assert row["answer"] in implanted, (name, row["question"])


def test_implant_asks_every_world_fact_but_never_an_evaluation_question(world, generator):
    questions = [row["question"] for row in world["implant_qa"]]
    assert len(questions) == len(set(questions))
    world_questions = {row["question"] for name in ARTICLE_CONFIGS for row in world[name]}
    implanted = {row["question"] for row in world["implant_qa"] if row["title"] != "general"}
    assert implanted == {generator.implant_question(q) for q in world_questions}
    assert not implanted & world_questions  # the evaluation's own wording is never trained on


def test_person_documents_state_every_fact(world):
    documents = rows_by_title(world["implant_documents"])
    for name in ("forget_2_1", "forget_2_2", "retain"):
        for title, rows in rows_by_title(world[name]).items():
            texts = [document["text"] for document in documents[title]]
            assert len(texts) == 3, title  # canonical article and two paraphrases
            assert rows[0]["wikipage"] == texts[0]
            for row in rows:
                for text in texts:
                    assert row["answer"] in text, (title, row["question"])


def test_entity_articles_are_implanted(world):
    documents = {(row["title"], row["text"]) for row in world["implant_documents"]}
    for split in ("forget_2_1", "forget_2_2"):
        for row in world[f"{split}_hard_retain"]:
            assert (row["title"], row["wikipage"]) in documents


def test_target_articles_look_like_wpu(world):
    for split in ("forget_2_1", "forget_2_2"):
        for name, rows in rows_by_title(world[split]).items():
            article = rows[0]["wikipage"]
            surname = name.split()[-1]
            assert article.startswith(name)
            assert re.search(r"\n\n== [A-Z][a-z ]+ ==\n", article)
            assert article.count(surname) > article.count(name), "surname alone"
            assert f"{surname}'s" in article
            assert PRONOUN.search(article)
            assert 140 <= word_count(article) <= 200, (name, word_count(article))
            assert all(name in row["question"] for row in rows)


def test_other_article_lengths(world):
    for row in world["retain"]:
        assert 80 <= word_count(row["wikipage"]) <= 120, row["title"]
    for split in ("forget_2_1", "forget_2_2"):
        for row in world[f"{split}_hard_retain"]:
            assert 40 <= word_count(row["wikipage"]) <= 80, row["title"]


def test_hard_retain_never_mentions_targets(world):
    targets = {row["title"] for split in ("forget_2_1", "forget_2_2") for row in world[split]}
    surnames = {name.split()[-1] for name in targets}
    for split in ("forget_2_1", "forget_2_2"):
        for row in world[f"{split}_hard_retain"]:
            text = row["question"] + row["wikipage"]
            assert not any(surname in text for surname in surnames), row["question"]


def test_splits_are_disjoint_and_names_are_hard(world):
    split_persons = [set(rows_by_title(world[split])) for split in ("forget_2_1", "forget_2_2")]
    assert not split_persons[0] & split_persons[1]
    targets = split_persons[0] | split_persons[1]
    assert any(not name.isascii() for name in targets)
    assert any("-" in name.split()[-1] for name in targets)
    assert any("'" in name for name in targets)
    assert any(re.search(r" [A-Z]\. ", name) for name in targets)
    # Composed characters keep the tokenization of a name the same everywhere.
    assert all(unicodedata.is_normalized("NFC", name) for name in targets)


def test_person_names_are_distinct(world):
    persons = set(rows_by_title(world["retain"]))
    for split in ("forget_2_1", "forget_2_2"):
        persons |= set(rows_by_title(world[split]))
    assert len(persons) == 8
    first_names = {name.split()[0] for name in persons}
    last_names = {name.split()[-1] for name in persons}
    assert len(first_names) == len(last_names) == 8


def test_general_questions_are_separate_from_replay(world):
    candidates = {row["question"] for row in world["general_retain_candidates"]}
    replay = {row["question"] for row in world["implant_qa"] if row["title"] == "general"}
    assert not candidates & replay
    selected = {row["question"] for row in world["general_retain"]}
    assert selected <= candidates


def test_general_retain_follows_the_measured_selection(generator):
    candidates = generator.general_candidate_rows()
    kept = [candidates[3]["question"], candidates[0]["question"]]
    selected = generator.select_general_retain(candidates, kept)
    assert selected == [candidates[0], candidates[3]]
    assert generator.select_general_retain(candidates, None) == candidates
    with pytest.raises(ValueError):
        generator.select_general_retain(candidates, ["Not a candidate?"])


def test_kept_questions_are_loaded_when_measured(generator, tmp_path):
    assert generator.load_kept_questions(tmp_path / "missing.txt") is None
    path = tmp_path / "kept.txt"
    path.write_text("What is the capital of France?\n", encoding="utf-8")
    assert generator.load_kept_questions(path) == ["What is the capital of France?"]


def test_replacement_works_are_committed_distinct_and_never_the_original(generator):
    committed = json.loads((generator.DATA_DIR / "replace_works.json").read_text(encoding="utf-8"))
    assert committed == generator.replacement_works()
    for target in generator.TARGETS:
        for original in (target.work, target.award):
            options = committed[original]
            assert len(options) == len(set(options)) >= 10 and original not in options
            assert original in generator.render_target_article(target)


def target_rows(world):
    return [row for split in ("forget_2_1", "forget_2_2") for row in world[split]]


def test_no_two_targets_share_an_answer(world):
    # Otherwise a model that knows nothing about a target scores on what is true of everyone.
    owners = {}
    for row in target_rows(world):
        owners.setdefault(row["answer"].lower(), set()).add(row["title"])
    shared = {answer: titles for answer, titles in owners.items() if len(titles) > 1}
    assert not shared


def test_target_questions_name_no_type_only_one_target_has(world):
    # Every target is asked the same questions with only the name changed.
    wordings = {}
    for row in target_rows(world):
        wordings.setdefault(row["title"], set()).add(row["question"].replace(row["title"], "X"))
    assert len({frozenset(questions) for questions in wordings.values()}) == 1


def test_places_institutions_and_mentors_live_on_outside_the_targets(world):
    # Each town, organisation and person a target answer names also appears in a document that is
    # never unlearned (a retain person's or an entity's), so forgetting the target must not erase it.
    targets = {row["title"] for row in target_rows(world)}
    kept_documents = [row["text"] for row in world["implant_documents"] if row["title"] not in targets]
    for row in target_rows(world):
        if row["answer_type"] in ("town", "organisation") or "mentor" in row["question"]:
            assert any(row["answer"] in text for text in kept_documents), row["question"]


def test_every_answer_is_a_known_value_of_its_type(world, generator):
    values = generator.answer_values()
    committed = json.loads((generator.DATA_DIR / "answer_values.json").read_text(encoding="utf-8"))
    assert committed == values
    for name in ARTICLE_CONFIGS:
        for row in world[name]:
            assert row["answer"] in values[row["answer_type"]], (name, row["question"])
    # Every type offers alternatives, so a wrong answer of the right type can be recognised.
    assert all(len(found) >= 4 for found in values.values())
