"""Soft-embedding attack, the mechanics (attacks/soft_embed_vectors.py) on the tiny model: where
the vectors sit, how they start, the loss, the threshold stop, and padding that changes no answer."""

import dataclasses

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.attacks.soft_embed import OPENERS, opener_ids
from causal_unlearn.attacks.soft_embed_vectors import (Answerer, attack_items, build_batch, init_token_ids,
                                                       initial_attack, no_attack, target_loss, train_attack)
from causal_unlearn.core.data import load_split
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import question_prompt

SETTINGS = {"num_tokens": 5, "init_text": " Please answer the question.", "lr": 0.05, "weight_decay": 0.01,
            "anchor": 0.0, "loss_threshold": 0.3, "epochs": 6, "restarts": 1, "batch_size": 8, "num_openers": 2,
            "generate_batch_size": 4, "max_new_tokens": 4, "seed": 0}


@pytest.fixture(scope="module")
def forget_rows():
    return load_split("data/wpu_mini", "forget_2_1")[:4]


@pytest.fixture(scope="module")
def talkative_model(tiny_model):
    """The tiny architecture with large random untied weights: tiny-random itself echoes its last input
    token ("\n") forever, which would make any position or padding mistake invisible in the answers."""
    from transformers import AutoModelForCausalLM

    config = tiny_model.config.__class__.from_dict({**tiny_model.config.to_dict(), "initializer_range": 0.5,
                                                    "tie_word_embeddings": False})
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def _settings(**changes):
    return OmegaConf.create({**SETTINGS, **changes})


def _encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _targets(tokenizer, items):
    return [opener_ids(tokenizer, p % len(OPENERS), item.name) for p, item in enumerate(items)]


def test_attack_vectors_sit_inside_the_user_turn_right_after_the_question(tiny_family, tiny_tokenizer, tiny_model,
                                                                          forget_rows):
    row = forget_rows[0]
    prompt_ids = _encode(tiny_tokenizer, question_prompt(tiny_family, tiny_tokenizer, row["question"]))
    [item] = attack_items(tiny_family, tiny_tokenizer, [row], None)
    assert item.before_ids + item.after_ids == prompt_ids  # the cut adds and drops nothing
    assert tiny_tokenizer.decode(item.before_ids).endswith("<|im_start|>user\n" + row["question"])
    assert tiny_tokenizer.decode(item.after_ids) == "<|im_end|>\n<|im_start|>assistant\n"  # end of user turn, header
    attack = torch.randn(3, tiny_model.config.hidden_size, generator=torch.Generator().manual_seed(1))
    target = opener_ids(tiny_tokenizer, 0, row["title"])
    with torch.no_grad():
        batch = build_batch(tiny_model, attack, [item], [target])
        table = tiny_model.get_input_embeddings().weight
    embeds, cut, width = batch.embeds[0], len(item.before_ids), len(attack)
    assert torch.equal(embeds[:cut], table[item.before_ids])
    assert torch.equal(embeds[cut:cut + width], attack)
    assert torch.equal(embeds[cut + width:], table[item.after_ids + target])
    assert batch.labels[0].tolist() == [-100] * (len(prompt_ids) + width) + target
    assert batch.position_ids[0].tolist() == list(range(embeds.shape[0]))


def test_with_the_original_tags_the_attack_goes_before_the_closing_tag(tiny_family, tiny_tokenizer):
    tags = dataclasses.replace(tiny_family, prompt_format="tags", question_start_tag="[INST] ",
                               question_end_tag=" [/INST]", answer_tag="")
    [item] = attack_items(tags, tiny_tokenizer, [{"question": "Who is Zoe?"}], None)
    assert tiny_tokenizer.decode(item.before_ids).endswith("[INST] Who is Zoe?")
    assert tiny_tokenizer.decode(item.after_ids) == " [/INST]"


def test_the_start_is_the_model_reading_the_init_text_as_tokens(tiny_family, tiny_tokenizer, talkative_model,
                                                                 forget_rows):
    settings = _settings(num_tokens=7)
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:2], None)
    start = initial_attack(talkative_model, tiny_tokenizer, settings, 0, torch.Generator().manual_seed(0))
    ids = init_token_ids(tiny_tokenizer, settings.init_text, settings.num_tokens)
    assert len(ids) == 7 and ids[:5] == _encode(tiny_tokenizer, settings.init_text)  # repeated to num_tokens
    answers = Answerer(talkative_model, tiny_tokenizer, items, max_new_tokens=6, batch_size=2).answers(start)
    for item, answer in zip(items, answers):
        prompt = torch.tensor([item.before_ids + ids + item.after_ids])
        with torch.no_grad():
            output = talkative_model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
        assert answer == tiny_tokenizer.decode(output[0, prompt.shape[1]:], skip_special_tokens=True).strip()
    untrained = train_attack(talkative_model, items, _targets(tiny_tokenizer, items), start, settings, 0,
                             torch.Generator().manual_seed(0))
    assert torch.equal(untrained.attack, start) and untrained.steps == 0 and not untrained.converged
    noisy = initial_attack(talkative_model, tiny_tokenizer, settings, 1, torch.Generator().manual_seed(0))
    assert not torch.equal(noisy, start)  # later restarts start elsewhere


def test_the_init_text_must_have_tokens(tiny_tokenizer):
    with pytest.raises(UserError, match="soft_embed.init_text"):
        init_token_ids(tiny_tokenizer, "", 4)


def _uncapped(model, tokenizer, items, settings, steps):
    start = initial_attack(model, tokenizer, settings, 0, torch.Generator().manual_seed(0))
    return train_attack(model, items, _targets(tokenizer, items), start, settings, steps,
                        torch.Generator().manual_seed(0))


def test_training_stops_below_the_threshold_and_records_it(tiny_family, tiny_tokenizer, talkative_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows, None)
    capped = _uncapped(talkative_model, tiny_tokenizer, items, _settings(loss_threshold=1e-6), 8)
    assert not capped.converged and capped.steps == 8 and len(capped.losses) == 9  # 8 updates, then the final loss
    curve = capped.losses
    # The first pass whose loss is below every earlier one: a threshold between them stops training there.
    stop = next(k for k in range(1, len(curve)) if curve[k] < min(curve[:k]))
    threshold = (curve[stop] + min(curve[:stop])) / 2
    stopped = _uncapped(talkative_model, tiny_tokenizer, items, _settings(loss_threshold=threshold), 8)
    assert stopped.converged and stopped.steps == stop
    assert stopped.losses == pytest.approx(curve[:stop + 1], rel=1e-5) and stopped.losses[-1] < threshold
    at_once = _uncapped(talkative_model, tiny_tokenizer, items, _settings(loss_threshold=curve[0] + 1), 8)
    assert at_once.converged and at_once.steps == 0 and len(at_once.losses) == 1


def test_the_anchor_keeps_the_vectors_near_their_start(tiny_family, tiny_tokenizer, talkative_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows, None)
    start = initial_attack(talkative_model, tiny_tokenizer, _settings(), 0, torch.Generator().manual_seed(0))

    def drift(anchor):
        trained = _uncapped(talkative_model, tiny_tokenizer, items, _settings(loss_threshold=1e-6, anchor=anchor), 4)
        assert trained.steps == 4
        return float((trained.attack - start).norm())

    free, held, pinned = drift(0.0), drift(5.0), drift(1e6)
    assert 0 < held < free  # a pull of lr_t * 5 (a quarter of the way at the first step) after each step
    assert pinned == 0.0  # lr_t * anchor >= 1: back at the start after every step


def test_mini_batches_cover_every_question_and_restore_the_model_flags(tiny_family, tiny_tokenizer, tiny_model,
                                                                       forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:3], None)
    before = [p.requires_grad for p in tiny_model.parameters()]
    trained = _uncapped(tiny_model, tiny_tokenizer, items, _settings(batch_size=2, loss_threshold=1e-6), 4)
    assert trained.steps == 4 and len(trained.losses) == 3  # passes of 2 steps (2 + 1 questions, none dropped)
    assert [p.requires_grad for p in tiny_model.parameters()] == before


def test_loss_is_cross_entropy_on_target_tokens_only(tiny_family, tiny_tokenizer, tiny_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:3], None)
    targets = _targets(tiny_tokenizer, items)
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


def test_padding_forced_openers_and_the_shared_start_do_not_change_greedy_answers(tiny_family, tiny_tokenizer,
                                                                                   talkative_model):
    rows = [{"question": "Who?"},
            {"question": "Tell me everything you know about the cartographer Harlan J. Whitcombe and his atlas."}]
    items = attack_items(tiny_family, tiny_tokenizer, rows, None)
    assert len(items[1].before_ids) > len(items[0].before_ids) + 5  # the short row really is padded in the batch
    attack = torch.randn(4, talkative_model.config.hidden_size, generator=torch.Generator().manual_seed(2)) * 0.5
    batched = Answerer(talkative_model, tiny_tokenizer, items, max_new_tokens=8, batch_size=2).answers(attack)
    alone = [Answerer(talkative_model, tiny_tokenizer, [item], max_new_tokens=8, batch_size=1).answers(attack)[0]
             for item in items]
    assert batched == alone
    assert all(len(answer.split()) >= 3 for answer in batched), batched  # real answers, not empty strings
    # One answerer, several passes: the part before the attack, read on the first pass, serves them all.
    answerer = Answerer(talkative_model, tiny_tokenizer, items, max_new_tokens=10, batch_size=2)
    plain = answerer.answers(no_attack(talkative_model))
    tokens = answerer.tokens(attack)
    assert plain != [answerer.tokenizer.decode(row, skip_special_tokens=True).strip() for row in tokens]
    assert [answerer.tokenizer.decode(row[:8], skip_special_tokens=True).strip() for row in tokens] == batched
    # Forcing an answer's own first greedy tokens continues it the same way, whatever their lengths.
    assert all(len(row) == 10 for row in tokens)  # no early stop: the comparison covers every token
    answerer.max_new_tokens = 7
    assert answerer.tokens(attack, forced=[tokens[0][:1], tokens[1][:3]]) == [tokens[0][1:8], tokens[1][3:10]]
    batch = build_batch(talkative_model, attack, items)
    assert batch.attention_mask[0, 0] == 0 and batch.position_ids[0, -1] == batch.attention_mask[0].sum() - 1


def test_no_attack_is_the_plain_prompt(tiny_family, tiny_tokenizer, talkative_model, forget_rows):
    items = attack_items(tiny_family, tiny_tokenizer, forget_rows[:2], None)
    answers = Answerer(talkative_model, tiny_tokenizer, items, 6, 2).answers(no_attack(talkative_model))
    for row, answer in zip(forget_rows, answers):
        prompt = torch.tensor([_encode(tiny_tokenizer, question_prompt(tiny_family, tiny_tokenizer, row["question"]))])
        with torch.no_grad():
            output = talkative_model.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)
        assert answer == tiny_tokenizer.decode(output[0, prompt.shape[1]:], skip_special_tokens=True).strip()


def test_a_family_without_assistant_turn_is_refused(tiny_family, tiny_tokenizer):
    no_turn = dataclasses.replace(tiny_family, prompt_format="tags", question_end_tag="", answer_tag="")
    with pytest.raises(UserError, match="no assistant turn"):
        attack_items(no_turn, tiny_tokenizer, [{"question": "Who?"}], None)
