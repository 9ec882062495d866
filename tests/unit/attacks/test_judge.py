"""The LLM judge's repetition measure (attacks/judge.py)."""

import pytest

from causal_unlearn.attacks.judge import unique_ngram_ratio


def test_unique_ngrams_never_divides_by_zero(tiny_tokenizer):
    assert unique_ngram_ratio(tiny_tokenizer, ["a a a a a a a a a a"]) < 0.5
    assert unique_ngram_ratio(tiny_tokenizer, ["Hi"]) != unique_ngram_ratio(tiny_tokenizer, ["Hi"])  # NaN: too short


def test_an_unreachable_endpoint_stops_the_judge_after_a_few_failures(tmp_path):
    import httpx
    import openai
    from omegaconf import OmegaConf

    from causal_unlearn.attacks.judge import Judge
    from causal_unlearn.core.errors import UserError

    class Unreachable:  # the OpenAI client's shape, failing as it does when nothing listens
        def __init__(self):
            self.calls = 0
            self.chat = self
            self.completions = self

        def create(self, **_):
            self.calls += 1
            raise openai.APIConnectionError(request=httpx.Request("POST", "http://127.0.0.1:9/v1/chat/completions"))

    cfg = OmegaConf.create({"model": "m", "max_tokens": 8, "cache_dir": str(tmp_path), "concurrency": 1,
                            "base_url": "http://127.0.0.1:9/v1", "api_key_env": "OPENAI_API_KEY"})
    client = Unreachable()
    jobs = [(None, f"question {i}", range(1, 4)) for i in range(40)]
    with pytest.raises(UserError, match=r"cannot reach http://127.0.0.1:9/v1 \(3 connection failures in a row\)"):
        Judge(cfg, client).rate_all(jobs)
    assert client.calls == Judge.MAX_CONNECTION_FAILURES  # nothing more was sent
