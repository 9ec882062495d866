"""Splitting documents into chunks (teacher/chunking.py): headers dropped, sentences grouped,
overlong chunks split and never truncated."""

from causal_unlearn.teacher.chunking import fit_to_budget, sentence_chunks, token_chunks


def test_chunking_drops_headers_and_groups_sentences(tiny_tokenizer):
    text = ("Alpha beta gamma delta epsilon one. Alpha beta gamma delta epsilon two.\n\n== Early life ==\n"
            "Alpha beta gamma delta epsilon three. Short line.\nAlpha beta gamma delta epsilon four.")
    assert sentence_chunks(text, 3) == [
        "Alpha beta gamma delta epsilon one. Alpha beta gamma delta epsilon two. Alpha beta gamma delta epsilon three.",
        "Alpha beta gamma delta epsilon four."]
    assert sentence_chunks(text, -1) == [text.strip()]
    for chunk in token_chunks(text, tiny_tokenizer, 20):
        assert len(tiny_tokenizer(chunk, add_special_tokens=False)["input_ids"]) <= 20


def test_overlong_chunks_are_split_never_truncated(tiny_tokenizer):
    text = " ".join(f"word{i}" for i in range(300)) + ". Another sentence follows here now."
    pieces = fit_to_budget(text, tiny_tokenizer, 40)
    assert len(pieces) > 1
    assert all(len(tiny_tokenizer(p, add_special_tokens=False)["input_ids"]) <= 40 for p in pieces)
    assert " ".join(pieces).split() == text.split()
