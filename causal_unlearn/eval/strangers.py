"""Forget QA about strangers: each target's name swapped for names the model has never seen.

Asked of the model before unlearning, this measures how much of the forget QA a model answers
without knowing the target at all: answers shared by everyone in the world (an institution every
person attended, the only atlas the world knows) come out right for anybody. That is the floor a
targeted method should reach, and the Forget score below which unlearning must also be erasing
knowledge about the world rather than about the target. The names come from the same generator
as the teacher's substitutes, with a different seed, so they are not the teacher's names.
"""

from causal_unlearn.core.errors import UserError
from causal_unlearn.teacher.names import find_mentions, name_variants, replace_mentions
from causal_unlearn.teacher.substitutes import generated_names

# The teacher's substitutes come from the same generator with the run's seed (default 42); a
# fixed, different seed keeps these names apart from them and makes the floor a property of the
# model and the data alone.
SEED = 42 + 7919
# How many never-seen names each target's questions are asked with. The floor is a mean over
# guesses, and which world values a name draws (a male name, the male target's facts) varies from
# name to name: with 2 names the floor of one implanted model moved by up to 0.19 between draws
# of names; with 8, two draws agree within 0.034 (docs/results.md).
NAMES_PER_TARGET = 8


def _swap(text: str, title: str, stranger: str) -> str:
    return replace_mentions(text, find_mentions(text, name_variants(title)), title, stranger)[0]


def stranger_rows(rows: list[dict], question_key: str, answer_key: str) -> list[dict]:
    """Every row once per stranger name, with the target's name replaced in question and answer."""
    if any(not row.get("title") for row in rows):
        raise UserError("eval.stranger_names needs a 'title' (the target's name) on every forget row.")
    texts: dict[str, str] = {}
    for row in rows:
        texts[row["title"]] = texts.get(row["title"], "") + " " + row[question_key] + " " + row[answer_key]
    names = {title: generated_names(title, NAMES_PER_TARGET, SEED, text) for title, text in texts.items()}
    swapped = []
    for index in range(NAMES_PER_TARGET):
        for row in rows:
            stranger = names[row["title"]][index]
            swapped.append({**row, "title": stranger, question_key: _swap(row[question_key], row["title"], stranger),
                            answer_key: _swap(row[answer_key], row["title"], stranger)})
    return swapped
