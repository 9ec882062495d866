"""Model families resolve, load, generate; the embedded conversion is cached and round-trips."""

import json
import threading

import pytest
import torch
from omegaconf import OmegaConf

import embedded
from models import MODEL_CONFIG_PATH, load_family, load_model, load_tokenizer, pick_attention
from prompts import question_prompt, render_chat
from utils import UserError

from conftest import run_cli


def test_every_configured_family_resolves():
    names = list(OmegaConf.load(MODEL_CONFIG_PATH))
    assert {"llama2-7b", "tofu_ft_llama2-7b", "smollm2-135m", "tiny-random"} <= set(names)
    for name in names:
        family = load_family(name)
        assert family.prompt_format in {"chat_template", "tags"}
        assert family.max_context > 0


def test_unknown_family_names_the_known_ones():
    with pytest.raises(UserError, match="Unknown model_family 'gpt-9'.*smollm2-135m"):
        load_family("gpt-9")


def test_unknown_family_on_the_command_line_is_one_clear_line(tmp_path):
    result = run_cli("evaluate_util.py", "model_family=gpt-9", f"eval.save_dir={tmp_path}")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: Unknown model_family 'gpt-9'")
    assert "Traceback" not in result.stderr


def test_tiny_random_generates(tiny_family, tiny_tokenizer, tiny_model):
    prompt = question_prompt(tiny_family, tiny_tokenizer, "Who wrote the atlas?")
    batch = tiny_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = tiny_model.generate(**batch, max_new_tokens=5, do_sample=False, pad_token_id=tiny_tokenizer.pad_token_id)
    assert output.shape[1] == batch["input_ids"].shape[1] + 5
    assert tiny_model.config.num_hidden_layers == 2


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


def test_flash_attention_falls_back_to_sdpa_on_cpu():
    family = load_family("llama2-7b")
    assert family.attn_implementation == "flash_attention_2"
    assert pick_attention(family, torch.device("cpu")) == "sdpa"


def test_chat_template_answer_spans_cover_answer_and_end_of_turn(tiny_family, tiny_tokenizer):
    chat = render_chat(tiny_family, tiny_tokenizer, [("Q1?", "A one."), ("Q2?", "A two.")], system="Be brief.")
    assert [chat.text[start:end] for start, end in chat.answer_spans] == ["A one.<|im_end|>", "A two.<|im_end|>"]
    assert chat.text.startswith("<|im_start|>system\nBe brief.")


def test_tags_format_matches_the_llama2_layout(tiny_tokenizer):
    family = load_family("llama2-7b")
    chat = render_chat(family, tiny_tokenizer, [("Who?", "Me."), ("Where?", None)], system="S")
    bos, eos = tiny_tokenizer.bos_token, tiny_tokenizer.eos_token
    assert chat.text == f"{bos}[INST] <<SYS>>\nS\n<</SYS>>\n\nWho? [/INST] Me.{eos}{bos}[INST] Where? [/INST] "
    assert [chat.text[s:e] for s, e in chat.answer_spans] == [f"Me.{eos}"]
    assert load_family("tofu_ft_llama2-7b").answer_tag == ""
