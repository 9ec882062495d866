"""Model families (core/models.py) resolve, load and generate; attention falls back on CPU."""

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import MODEL_CONFIG_PATH, load_family, pick_attention
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
