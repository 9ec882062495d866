"""The LLM judge's repetition measure (attacks/judge.py)."""

from causal_unlearn.attacks.judge import unique_ngram_ratio


def test_unique_ngrams_never_divides_by_zero(tiny_tokenizer):
    assert unique_ngram_ratio(tiny_tokenizer, ["a a a a a a a a a a"]) < 0.5
    assert unique_ngram_ratio(tiny_tokenizer, ["Hi"]) != unique_ngram_ratio(tiny_tokenizer, ["Hi"])  # NaN: too short
