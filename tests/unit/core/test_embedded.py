"""The embedded models (core/embedded.py): the conversion is cached, built once, rebuilt when stale,
never left half-built, and the converted SmolLM2 round-trips the GGUF weights."""

import json
import threading

import pytest
import torch

from causal_unlearn.core import embedded
from causal_unlearn.core.models import load_family, load_model, load_tokenizer
from causal_unlearn.core.prompts import question_prompt


def test_smollm2_converted_folder_matches_the_gguf_weights():
    from transformers import AutoModelForCausalLM

    family = load_family("smollm2-135m")
    converted = load_model(family, device=torch.device("cpu")).eval()
    gguf = embedded.packaged_gguf_path()
    original = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32).eval()
    ids = torch.tensor([[1, 504, 3458, 282, 4649, 314]])
    with torch.no_grad():
        assert torch.allclose(converted(ids).logits, original(ids).logits, atol=1e-4)
    tokenizer = load_tokenizer(family)
    assert tokenizer.chat_template and "<|im_start|>assistant" in question_prompt(family, tokenizer, "Hi?")
    prompt = tokenizer(question_prompt(family, tokenizer, "What is the capital of France?"), return_tensors="pt",
                       add_special_tokens=False)
    answer = converted.generate(**prompt, max_new_tokens=16, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert "Paris" in tokenizer.decode(answer[0, prompt["input_ids"].shape[1]:])
    assert "quantization_config" not in json.loads((embedded.embedded_model_dir("smollm2-135m") / "config.json").read_text())


def _counting_builder(calls):
    def build(out_dir):
        calls.append(out_dir)
        (out_dir / "weights.bin").write_text("w")

    return build


def test_embedded_build_happens_once_even_with_concurrent_callers(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("CAUSAL_UNLEARN_CACHE", str(tmp_path))
    monkeypatch.setitem(embedded.BUILDERS, "tiny-random", _counting_builder(calls))
    threads = [threading.Thread(target=embedded.embedded_model_dir, args=("tiny-random",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    folder = embedded.embedded_model_dir("tiny-random")
    assert (folder / "weights.bin").is_file() and len(calls) == 1
    assert not [p for p in tmp_path.joinpath("models").iterdir() if p.name.startswith(".tiny-random-")]


def test_stale_embedded_build_is_rebuilt(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setenv("CAUSAL_UNLEARN_CACHE", str(tmp_path))
    monkeypatch.setitem(embedded.BUILDERS, "tiny-random", _counting_builder(calls))
    folder = embedded.embedded_model_dir("tiny-random")
    monkeypatch.setattr(embedded, "BUILD_VERSION", embedded.BUILD_VERSION + 1)
    assert embedded.embedded_model_dir("tiny-random") == folder
    assert len(calls) == 2


def test_interrupted_build_leaves_no_folder(tmp_path, monkeypatch):
    def crash(out_dir):
        (out_dir / "half.bin").write_text("x")
        raise KeyboardInterrupt

    monkeypatch.setenv("CAUSAL_UNLEARN_CACHE", str(tmp_path))
    monkeypatch.setitem(embedded.BUILDERS, "tiny-random", crash)
    with pytest.raises(KeyboardInterrupt):
        embedded.embedded_model_dir("tiny-random")
    leftovers = [p.name for p in tmp_path.joinpath("models").iterdir() if p.is_dir()]
    assert leftovers == []  # neither a finished-looking folder nor a staging dir (the lock file may stay)
