"""Model families (core/models.py) resolve, load and generate; attention falls back on CPU."""

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.core.errors import UserError
from causal_unlearn.core import models
from causal_unlearn.core.models import (MODEL_CONFIG_PATH, cpu_precision, decoding_model, load_family, pick_attention,
                                        trains_in_bf16_autocast)
from causal_unlearn.core.prompts import question_prompt


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


def test_tiny_random_generates(tiny_family, tiny_tokenizer, tiny_model):
    prompt = question_prompt(tiny_family, tiny_tokenizer, "Who wrote the atlas?")
    batch = tiny_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = tiny_model.generate(**batch, max_new_tokens=5, do_sample=False, pad_token_id=tiny_tokenizer.pad_token_id)
    assert output.shape[1] == batch["input_ids"].shape[1] + 5
    assert tiny_model.config.num_hidden_layers == 2


def test_flash_attention_falls_back_to_sdpa_on_cpu():
    family = load_family("llama2-7b")
    assert family.attn_implementation == "flash_attention_2"
    assert pick_attention(family, torch.device("cpu")) == "sdpa"


@pytest.mark.parametrize("native", [True, False])
def test_bf16_answers_and_autocast_only_where_the_setting_and_the_cpu_say_so(tiny_model, monkeypatch, native):
    """true always (answers from a bf16 copy, training under autocast), false never, auto where the
    CPU computes bf16 in hardware; the model itself stays float32 (probabilities are scored on it)."""
    monkeypatch.setattr(models, "cpu_computes_bf16", lambda: native)
    for setting, wanted in (("auto", native), (True, True), (False, False)):
        decoder = decoding_model(tiny_model, setting)
        assert (decoder is not tiny_model) == wanted
        assert decoder.dtype == (torch.bfloat16 if wanted else torch.float32)
        assert cpu_precision(setting) == ("bf16" if wanted else "fp32")
        assert trains_in_bf16_autocast(tiny_model, setting) == wanted
    assert tiny_model.dtype == torch.float32


def test_a_bf16_model_or_a_bad_setting_is_not_copied(tiny_model):
    half = decoding_model(tiny_model, True)
    assert decoding_model(half, True) is half  # already below float32: nothing to gain
    with pytest.raises(UserError, match="cpu_bf16='fast' is not one of auto, true, false"):
        decoding_model(tiny_model, "fast")


def test_the_bf16_copy_answers_as_the_float32_model_on_a_greedy_prompt(tiny_family, tiny_tokenizer, tiny_model):
    """The copy holds the same weights rounded: its logits stay close to the float32 model's."""
    batch = tiny_tokenizer(question_prompt(tiny_family, tiny_tokenizer, "Who wrote the atlas?"), return_tensors="pt")
    with torch.no_grad():
        full = tiny_model(**batch).logits.float()
        half = decoding_model(tiny_model, True)(**batch).logits.float()
    assert torch.allclose(full, half, atol=0.05 * float(full.abs().max()))
