"""Soft-embedding attack (attacks/soft_embed.py) on the tiny model: it learns, the vectors sit at
the assistant-turn cut, and padding changes no answer."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.attacks.soft_embed import (attack_items, build_batch, greedy_answers, held_out_split, opener_ids,
                                               target_loss, train_attack)
from causal_unlearn.core.data import load_split
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import split_at_assistant_turn

SETTINGS = {"num_tokens": 5, "lr": 0.05, "weight_decay": 0.01, "epochs": 6, "restarts": 1, "batch_size": 2, "generate_batch_size": 2,
            "max_new_tokens": 4, "seed": 0}


@pytest.fixture(scope="module")
def forget_rows():
    return load_split("data/wpu_mini", "forget_2_1")[:4]


def _encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def test_loss_decreases_over_epochs(tiny_family, tiny_tokenizer, tiny_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows, None)
    settings = OmegaConf.create(SETTINGS)
    _, losses = train_attack(tiny_model, tiny_tokenizer, items, settings, torch.Generator().manual_seed(0))
    assert len(losses) == settings.epochs
    # The four rows share one title, so each epoch asks for the same four openers: without learning the
    # epoch means would be equal. The random model is near-uniform (loss ~ log(vocab) = 10.8), so the
    # few vectors move it only a little; the drop is still ~1000x float noise.
    assert losses[-1] < losses[0] - 0.01, losses


def test_model_flags_are_restored_after_training(tiny_family, tiny_tokenizer, tiny_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:1], None)
    before = [p.requires_grad for p in tiny_model.parameters()]
    settings = OmegaConf.create({**SETTINGS, "epochs": 1, "batch_size": 8})  # one row < batch: one batch of all
    _, losses = train_attack(tiny_model, tiny_tokenizer, items, settings, torch.Generator().manual_seed(0))
    assert len(losses) == 1 and losses[0] == losses[0]  # trained on something (not the mean of nothing: NaN)
    assert [p.requires_grad for p in tiny_model.parameters()] == before


def test_attack_vectors_sit_between_user_part_and_assistant_header(tiny_family, tiny_tokenizer, tiny_model, forget_rows):
    row = forget_rows[0]
    user, header = split_at_assistant_turn(tiny_family, tiny_tokenizer, row["question"])
    user_ids, header_ids = _encode(tiny_tokenizer, user), _encode(tiny_tokenizer, header)
    attack = torch.randn(3, tiny_model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    target = opener_ids(tiny_tokenizer, 0, row["title"])
    [item] = attack_items(tiny_family, tiny_tokenizer, [row], None)
    with torch.no_grad():
        batch = build_batch(tiny_model, attack, [item], [target])
        table = tiny_model.get_input_embeddings().weight
    embeds, cut = batch.embeds[0], len(user_ids)
    assert embeds.shape[0] == len(user_ids) + len(attack) + len(header_ids) + len(target)
    assert torch.equal(embeds[cut - 1], table[user_ids[-1]])
    assert torch.equal(embeds[cut:cut + len(attack)], attack)
    assert torch.equal(embeds[cut + len(attack)], table[header_ids[0]])
    assert batch.labels[0].tolist() == [-100] * (cut + len(attack) + len(header_ids)) + target
    assert batch.position_ids[0].tolist() == list(range(embeds.shape[0]))


def test_loss_is_cross_entropy_on_target_tokens_only(tiny_family, tiny_tokenizer, tiny_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:3], None)
    targets = [opener_ids(tiny_tokenizer, p, row["title"]) for p, row in enumerate(forget_rows[:3])]
    assert len({len(target) for target in targets}) > 1  # right padding is exercised
    attack = torch.randn(5, tiny_model.config.hidden_size, generator=torch.Generator().manual_seed(3)) * 0.5
    with torch.no_grad():
        batch = build_batch(tiny_model, attack, items, targets)
        logits = tiny_model(inputs_embeds=batch.embeds, attention_mask=batch.attention_mask,
                            position_ids=batch.position_ids).logits
        logprobs = torch.log_softmax(logits.float(), -1)
        picked = [-logprobs[r, t - 1, batch.labels[r, t]] for r in range(3) for t in range(1, batch.labels.shape[1])
                  if batch.labels[r, t] != -100]
        assert len(picked) == sum(map(len, targets))
        assert target_loss(tiny_model, batch).item() == pytest.approx(torch.stack(picked).mean().item(), rel=1e-5)


def test_reading_the_part_before_the_attack_once_changes_neither_loss_nor_gradient(
        tiny_family, tiny_tokenizer, talkative_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:3], None)
    targets = [opener_ids(tiny_tokenizer, p, row["title"]) for p, row in enumerate(forget_rows[:3])]
    results = []
    for split in (True, False):
        attack = torch.nn.Parameter(torch.randn(5, talkative_model.config.hidden_size,
                                                generator=torch.Generator().manual_seed(4)) * 0.5)
        batch = build_batch(talkative_model, attack, items, targets)
        assert batch.attack_start is not None and batch.attention_mask[:, :batch.attack_start].eq(0).any()
        if not split:
            batch.attack_start = None  # the whole sequence in one forward, as a plain implementation would
        loss = target_loss(talkative_model, batch)
        loss.backward()
        results.append((loss.item(), attack.grad.clone()))
    (split_loss, split_grad), (whole_loss, whole_grad) = results
    assert split_loss == pytest.approx(whole_loss, rel=1e-5) and whole_grad.abs().sum() > 0
    assert torch.allclose(split_grad, whole_grad, rtol=1e-4, atol=1e-6)


@pytest.fixture(scope="module")
def talkative_model(tiny_model):
    """The tiny architecture with large random untied weights: tiny-random itself echoes its last input
    token ("\n") forever, which would make any padding mistake invisible in the answers."""
    from transformers import AutoModelForCausalLM

    config = tiny_model.config.__class__.from_dict({**tiny_model.config.to_dict(), "initializer_range": 0.5,
                                                    "tie_word_embeddings": False})
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def test_left_padding_does_not_change_greedy_answers(tiny_family, tiny_tokenizer, talkative_model):
    rows = [{"question": "Who?"},
            {"question": "Tell me everything you know about the cartographer Harlan J. Whitcombe and his atlas."}]
    items = attack_items(tiny_family, tiny_tokenizer, rows, None)
    assert len(items[1].user_ids) > len(items[0].user_ids) + 5  # the short row really is padded in the batch
    attack = torch.randn(4, talkative_model.config.hidden_size, generator=torch.Generator().manual_seed(2)) * 0.5
    batched = greedy_answers(talkative_model, tiny_tokenizer, attack, items, max_new_tokens=8, batch_size=2)
    alone = [greedy_answers(talkative_model, tiny_tokenizer, attack, [item], max_new_tokens=8, batch_size=1)[0]
             for item in items]
    assert batched == alone
    assert all(len(answer.split()) >= 3 for answer in batched), batched  # real answers, not empty strings
    batch = build_batch(talkative_model, attack, items)
    assert batch.attention_mask[0, 0] == 0 and batch.position_ids[0, -1] == batch.attention_mask[0].sum() - 1


def test_a_family_without_assistant_turn_is_refused(tiny_family, tiny_tokenizer):
    no_turn = dataclasses.replace(tiny_family, prompt_format="tags", question_end_tag="", answer_tag="")
    with pytest.raises(UserError, match="no assistant turn"):
        attack_items(no_turn, tiny_tokenizer, [{"question": "Who?"}], None)


def test_held_out_halves_are_seeded_and_disjoint():
    train, test = held_out_split(7, seed=0)
    assert (train, test) == held_out_split(7, seed=0)
    assert sorted(train + test) == list(range(7)) and len(train) == 4
