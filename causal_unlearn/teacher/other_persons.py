"""Where a text names persons other than the target, so that a part of the target's name inside
their names is not taken for the target.

A target "Maria Lopez-Brandt" has the variants "Maria", "Lopez" and "Brandt"; in "her father Otto
Brandt" or "her namesake Maria Keller" those words name someone else. A span is another person's
name when it is
- a spaCy PERSON entity (the small English pipeline that also splits sentences) with a word that
  is not one of the title's, or
- a run of two or more capitalised words that starts with a given name (Faker's first names of
  several locales) and has a word that is not one of the title's.
The teacher leaves single-word variants inside such spans alone (names.find_mentions); the full
name and first + last still count wherever they appear.
"""

import functools
import importlib
import re

from causal_unlearn.teacher.chunking import sentence_splitter
from causal_unlearn.teacher.names import ascii_fold

GIVEN_NAME_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL", "pt_BR", "sv_SE")
# A name word: an initial ("J.") or letters with apostrophes and hyphens; a full stop after a
# word ends the run, so a run never crosses a sentence end.
_WORD = r"(?:[A-ZÀ-Þ]\.|[^\W\d_][\w'’\-]*)"
_CAPITALISED_RUN = re.compile(rf"(?<![\w'’\-])(?=[A-ZÀ-Þ]){_WORD}(?:[ \t]+(?=[A-ZÀ-Þ]){_WORD})+")


@functools.lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """First names of several Faker locales, folded to lower-case ASCII."""
    names = set()
    for locale in GIVEN_NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        names |= {_fold(name) for name in getattr(provider, "first_names", ())}
    return frozenset(names)


def _fold(word: str) -> str:
    """A name word compared loosely: ASCII, lower case, without a possessive or trailing punctuation."""
    return re.sub(r"['’]s$", "", ascii_fold(word).lower()).strip(".,;:!?")


def _title_words(title: str) -> set[str]:
    words = {_fold(word) for word in title.split()}
    halves = {_fold(half) for word in title.split() for half in word.split("-")}
    initials = {_fold(word[0]) for word in title.split()}
    return words | halves | initials


def other_person_spans(text: str, title: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of names in `text` that are not (only) the target's."""
    own = _title_words(title)

    def someone_else(name: str) -> bool:
        return any(_fold(word) not in own for word in name.split() if _fold(word))

    spans = [(ent.start_char, ent.end_char) for ent in sentence_splitter()(text).ents
             if ent.label_ == "PERSON" and someone_else(ent.text)]
    for run in _CAPITALISED_RUN.finditer(text):
        if _fold(run.group().split()[0]) in given_names() and someone_else(run.group()):
            spans.append(run.span())
    return sorted(spans)
