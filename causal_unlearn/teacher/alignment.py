"""Aligning the student's tokens with an edited text's tokens, and locating names in tokens.

Alignment is exact, not a diff: we made the edits ourselves, so every original character
outside a name maps to a known edited character. An original token is aligned when the edited
text has a token with the same id over the mapped characters. No padding, no difflib heuristics.
"""

from dataclasses import dataclass

from causal_unlearn.teacher.names import Edit, Mention


@dataclass
class Encoded:
    ids: list[int]
    offsets: list[tuple[int, int]]
    content_start: int  # character where the chunk starts (after the prompt)
    text: str  # prompt + chunk


def encode(tokenizer, prompt: str, chunk: str) -> Encoded:
    enc = tokenizer(prompt + chunk, add_special_tokens=False, return_offsets_mapping=True)
    return Encoded(enc["input_ids"], [tuple(o) for o in enc["offset_mapping"]], len(prompt), prompt + chunk)


def _shift_before(char: int, edits: list[Edit]) -> int | None:
    """Offset to add to an original chunk character; None when it lies inside an edited name."""
    shift = 0
    for edit in edits:
        if char < edit.start:
            break
        if char < edit.end:
            return None
        shift = edit.new_end - edit.end
    return shift


def align(student: Encoded, teacher: Encoded, edits: list[Edit]) -> dict[int, int]:
    """Student position -> teacher position, for tokens that read the same text in both.

    The last prompt token is paired too (both predict the chunk's first token).
    """
    teacher_at = {span: pos for pos, span in enumerate(teacher.offsets)}
    pairs = {}
    if student.content_start and teacher.content_start:
        s_last = max(p for p, (s, _) in enumerate(student.offsets) if s < student.content_start)
        t_last = max(p for p, (s, _) in enumerate(teacher.offsets) if s < teacher.content_start)
        pairs[s_last] = t_last
    for pos, (start, end) in enumerate(student.offsets):
        if start < student.content_start or end <= start:
            continue
        rel_start, rel_end = start - student.content_start, end - student.content_start
        shift_start, shift_end = _shift_before(rel_start, edits), _shift_before(rel_end - 1, edits)
        if shift_start is None or shift_end is None or shift_start != shift_end:
            continue
        span = (rel_start + shift_start + teacher.content_start, rel_end + shift_start + teacher.content_start)
        t_pos = teacher_at.get(span)
        if t_pos is not None and teacher.ids[t_pos] == student.ids[pos]:
            pairs[pos] = t_pos
    return pairs


def tokens_overlapping(encoded: Encoded, spans: list[tuple[int, int]]) -> list[int]:
    """Positions (ascending) of tokens overlapping any chunk-relative character span [start, end)."""
    absolute = [(s + encoded.content_start, e + encoded.content_start) for s, e in spans]
    return [p for p, (s, e) in enumerate(encoded.offsets) if any(s < end and start < e for start, end in absolute)]


def token_positions_in(encoded: Encoded, mentions: list[Mention]) -> set[int]:
    """Positions of tokens that overlap a name mention (in the chunk part)."""
    return set(tokens_overlapping(encoded, [(m.start, m.end) for m in mentions]))


def mention_first_tokens(encoded: Encoded, mentions: list[Mention]) -> dict[int, int]:
    """Position of each mention's first token -> that token id."""
    firsts = {}
    for mention in mentions:
        start = mention.start + encoded.content_start
        for pos, (s, e) in enumerate(encoded.offsets):
            if s <= start < e or (s >= start and e > s):
                firsts[pos] = encoded.ids[pos]
                break
    return firsts


def word_first_tokens(tokenizer, words: list[str]) -> dict[str, list[int]]:
    """First token id of each word, with a leading space ("w_prefix") and without ("wo_prefix")."""
    def first(text):
        return tokenizer(text, add_special_tokens=False)["input_ids"][0]

    return {"w_prefix": [first(" " + w) for w in words], "wo_prefix": [first(w) for w in words]}
