"""The hand-written varied world (tests/data/varied_world) keeps the rules its README states."""

import json
import re
import unicodedata

import pytest

from causal_unlearn.teacher.names import name_variants
from helpers import REPO

WORLD = REPO / "tests" / "data" / "varied_world"
SPLITS = ("forget_2_1", "forget_2_2")
WPU_KEYS = ["title", "wikipage", "question", "answer"]
# Words that would tell what kind of thing one target's answer is ("Which symphony ...?").
KIND_WORDS = {"book", "ice", "glacier", "viola", "instrument", "symphony", "music", "photograph", "photographs",
              "portraits", "university", "conservatory", "college", "school", "medal", "prize", "laurel", "trophy"}
# The entities a target's answer names, by answer type: each needs its own article.
ENTITY_TYPES = ("town", "institution")


def load(name):
    return [json.loads(line) for line in (WORLD / f"{name}.json").read_text(encoding="utf-8").splitlines() if line]


def by_title(rows):
    grouped = {}
    for row in rows:
        grouped.setdefault(row["title"], []).append(row)
    return grouped


def words(text):
    return {word.lower() for word in re.findall(r"[A-Za-z]+", text)}


def names_word(text, word):
    return re.search(r"(?<![\w'’\-])" + re.escape(word) + r"(?![\w\-])", text) is not None


@pytest.fixture(scope="module")
def world():
    names = [*SPLITS, *(f"{split}_hard_retain" for split in SPLITS), "retain", "general_retain",
             "implant_documents", "implant_qa", "implant_qa_rephrased", "implant_qa_general"]
    return {name: load(name) for name in names}


@pytest.fixture(scope="module")
def answer_values():
    return json.loads((WORLD / "answer_values.json").read_text(encoding="utf-8"))


def article_rows(world):
    return [row for name in (*SPLITS, *(f"{s}_hard_retain" for s in SPLITS), "retain") for row in world[name]]


def test_rows_have_the_wpu_schema_and_an_answer_type(world):
    for row in article_rows(world):
        assert list(row) == [*WPU_KEYS, "answer_type"] and all(isinstance(v, str) and v for v in row.values())
    for row in world["general_retain"]:
        assert list(row)[:4] == WPU_KEYS and row["wikipage"] == ""
    assert all(list(row) == ["title", "text"] for row in world["implant_documents"])
    implant = world["implant_qa"] + world["implant_qa_rephrased"] + world["implant_qa_general"]
    assert all(list(row) == ["title", "question", "answer"] and all(row.values()) for row in implant)


def test_two_targets_per_split_with_twelve_questions_each(world):
    for split in SPLITS:
        targets = by_title(world[split])
        assert len(targets) == 2 and all(len(rows) >= 12 for rows in targets.values())
        assert all(title in row["question"] for title, rows in targets.items() for row in rows)
    assert len(by_title(world["retain"])) == 4


def test_short_answers_are_verbatim_in_the_one_article_of_their_title(world):
    for rows in by_title(article_rows(world)).values():
        assert len({row["wikipage"] for row in rows}) == 1
        assert all(row["answer"] in row["wikipage"] for row in rows)


def test_no_two_targets_share_an_answer(world):
    owner = {}
    for split in SPLITS:
        for title, rows in by_title(world[split]).items():
            answers = [row["answer"].lower() for row in rows]
            assert len(set(answers)) == len(answers), title
            for answer in answers:
                assert owner.setdefault(answer, title) == title, f"{answer!r}: {owner[answer]} and {title}"


def test_forget_questions_name_no_answer_and_no_kind_of_one_target(world):
    targets = [row for split in SPLITS for row in world[split]]
    answer_words = {word for row in targets for word in words(row["answer"]) if len(word) > 3}  # not "the"
    for row in targets:
        asked = words(row["question"].replace(row["title"], ""))
        assert not asked & (answer_words | KIND_WORDS), (row["question"], asked & (answer_words | KIND_WORDS))


def test_every_town_institution_and_mentor_of_a_target_has_its_own_article(world):
    retain_articles = " ".join(row["wikipage"] for row in world["retain"])
    for split in SPLITS:
        entities = set(by_title(world[f"{split}_hard_retain"]))
        for title, rows in by_title(world[split]).items():
            named = [row["answer"] for row in rows if row["answer_type"] in ENTITY_TYPES]
            mentors = [row["answer"] for row in rows if "mentor" in row["question"]]
            assert len(named) == 2 and len(mentors) == 1, title
            assert set(named + mentors) <= entities, title
            assert all(entity in retain_articles for entity in named), title


def test_target_articles_state_no_entity_fact_and_no_other_article_names_a_target(world):
    entity_facts = by_title(row for split in SPLITS for row in world[f"{split}_hard_retain"])
    documents = world["implant_documents"]
    for split in SPLITS:
        for title, rows in by_title(world[split]).items():
            article = rows[0]["wikipage"]
            for entity in {row["answer"] for row in rows} & set(entity_facts):
                assert not any(names_word(article, fact["answer"]) for fact in entity_facts[entity]), (title, entity)
            variants = name_variants(title)
            for document in documents:
                if document["title"] != title:
                    assert not any(names_word(document["text"], v) for v in variants), (title, document["title"])


def test_every_article_is_implanted_with_two_paraphrases_stating_every_fact(world):
    documents = {title: [row["text"] for row in rows] for title, rows in by_title(world["implant_documents"]).items()}
    for title, rows in by_title(article_rows(world)).items():
        texts = documents[title]
        assert len(texts) == 3 and texts[0] == rows[0]["wikipage"], title
        assert len(set(texts)) == 3
        for row in rows:
            assert all(row["answer"].lower() in text.lower() for text in texts), (title, row["answer"])


def test_implant_rewords_every_question_four_ways_never_as_the_evaluation_asks(world):
    evaluation = {row["question"] for row in article_rows(world)} | {row["question"] for row in world["general_retain"]}
    implant = [row for row in world["implant_qa"] + world["implant_qa_rephrased"] if row["title"] != "general"]
    questions = [row["question"] for row in implant]
    assert len(questions) == len(set(questions)) and not set(questions) & evaluation
    answers = by_title(implant)
    for row in article_rows(world):
        full = [a["answer"] for a in answers[row["title"]] if row["answer"].lower() in a["answer"].lower()]
        assert len(full) >= 4, row["question"]
    for title, rows in by_title(article_rows(world)).items():
        assert len([r for r in world["implant_qa"] if r["title"] == title]) == len(rows)
        assert len([r for r in world["implant_qa_rephrased"] if r["title"] == title]) == 3 * len(rows)


def test_general_replay_is_general_and_never_a_general_retain_question(world):
    replay = [row for row in world["implant_qa"] if row["title"] == "general"] + world["implant_qa_general"]
    assert len(world["implant_qa_general"]) >= 60 and all(row["title"] == "general" for row in world["implant_qa_general"])
    questions = [row["question"] for row in replay]
    assert len(questions) == len(set(questions))
    assert not set(questions) & {row["question"] for row in world["general_retain"]}


def test_answer_values_list_every_answer_under_its_type(world, answer_values):
    for row in article_rows(world):
        assert row["answer"] in answer_values[row["answer_type"]], row["question"]
    assert all(len(values) == len(set(values)) for values in answer_values.values())
    persons = set(by_title(article_rows(world))) - set(answer_values["town"]) - set(answer_values["institution"])
    assert persons <= set(answer_values["person"])


def test_target_names_take_the_hard_forms_of_wpu(world):
    targets = [title for split in SPLITS for title in by_title(world[split])]
    assert any(not name.isascii() for name in targets)
    assert any("-" in name.split()[-1] for name in targets)
    assert any("'" in name for name in targets)
    assert any(re.search(r" [A-Z]\. ", name) for name in targets)
    assert all(unicodedata.is_normalized("NFC", name) for name in targets)
