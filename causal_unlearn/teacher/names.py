"""Finding a target's name in text and swapping it for a substitute.

The target is given by its title ("Harlan J. Whitcombe"). Its mentions are the name variants
derived from the title (full name, first + last, first name, surname, initials, either half of
a double-barrelled surname, with straight or curly apostrophes and ASCII-folded diacritics).
Matching is on whole words and respects case, so a surname that is also a common word
(Wells / wells) or part of a longer word (Lin / Lincoln) is left alone where it is not the
name. A possessive ("Whitcombe's") is a mention of the name followed by "'s": the suffix stays
in the text when the name is swapped. Inside another person's name ("Otto Brandt" for a target
"Maria Lopez-Brandt", other_persons.py) a one-word variant is left alone.
"""

import re
import unicodedata
from dataclasses import dataclass

# A name starts where no word character, apostrophe or hyphen precedes it, and ends where no
# word character or hyphen follows (an apostrophe may follow: the possessive).
_BEFORE = r"(?<![\w'’\-])"
_AFTER = r"(?![\w\-])"


@dataclass(frozen=True)
class Mention:
    start: int  # character span [start, end) of the name in the text
    end: int
    variant: str  # which name variant (or work title) matched
    kind: str = "name"  # "name": the target's name; "work": a title with listed alternatives


def ascii_fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _apostrophe_forms(name: str) -> set[str]:
    return {name, name.replace("'", "’"), name.replace("’", "'")}


def name_variants(title: str) -> list[str]:
    """Ways a text may refer to the person called `title`, longest first."""
    words = title.split()
    variants = {title}
    if len(words) > 1:
        first, last = words[0], words[-1]
        variants |= {first, last, f"{first} {last}"}
        initials = " ".join(word[0] + "." for word in words[:-1])
        variants |= {f"{initials} {last}", f"{first[0]}. {last}"}
        if "-" in last:  # a double-barrelled surname may appear as either half
            variants |= set(last.split("-"))
    for variant in list(variants):
        variants |= _apostrophe_forms(variant) | {ascii_fold(variant)}
    # A bare initial ("J.") or one letter is never a safe mention.
    return sorted((v for v in variants if len(v.rstrip(".")) > 1), key=lambda v: (-len(v), v))


def find_mentions(text: str, variants: list[str], works: list[str] = (),
                  other_persons: list[tuple[int, int]] = ()) -> list[Mention]:
    """Non-overlapping whole-word, case-respecting occurrences of names and work titles; longer wins.

    `other_persons` (other_persons.py) are spans naming someone else: a one-word variant (a first
    name, a surname, half of a double-barrelled one) inside them is not the target.
    """
    claimed: list[Mention] = []
    candidates = [(v, "name") for v in set(variants)] + [(w, "work") for w in set(works)]
    for variant, kind in sorted(candidates, key=lambda vk: (-len(vk[0]), vk[0])):
        for match in re.finditer(_BEFORE + re.escape(variant) + _AFTER, text):
            if any(match.start() < m.end and m.start < match.end() for m in claimed):
                continue
            one_word_name = kind == "name" and " " not in variant
            if one_word_name and any(start <= match.start() and match.end() <= end for start, end in other_persons):
                continue
            claimed.append(Mention(match.start(), match.end(), variant, kind))
    return sorted(claimed, key=lambda m: m.start)


def substitute_for(variant: str, title: str, substitute: str) -> str:
    """The substitute's counterpart of one name variant (the original's consistent-name rule)."""
    title_words, sub_words = title.split(), substitute.split()
    if len(variant.split()) > 1 or len(title_words) == 1 or len(sub_words) == 1:
        return substitute
    if _same_word(variant, title_words[0]):
        return sub_words[0]
    return sub_words[-1]


def _same_word(a: str, b: str) -> bool:
    return ascii_fold(a).replace("’", "'") == ascii_fold(b).replace("’", "'")


@dataclass(frozen=True)
class Edit:
    """One replaced span: original [start, end) became edited [new_start, new_end)."""

    start: int
    end: int
    new_start: int
    new_end: int


def replace_mentions(text: str, mentions: list[Mention], title: str, substitute: str,
                     work_substitutes: dict[str, str] | None = None) -> tuple[str, list[Edit]]:
    """Swap every mention for the substitute's counterpart (works for their listed alternative);
    also return where each edit landed."""
    pieces, edits, cursor, shift = [], [], 0, 0
    for mention in mentions:
        if mention.kind == "work":
            replacement = (work_substitutes or {})[mention.variant]
        else:
            replacement = substitute_for(mention.variant, title, substitute)
        pieces += [text[cursor:mention.start], replacement]
        new_start = mention.start + shift
        edits.append(Edit(mention.start, mention.end, new_start, new_start + len(replacement)))
        shift += len(replacement) - (mention.end - mention.start)
        cursor = mention.end
    pieces.append(text[cursor:])
    return "".join(pieces), edits
