"""Soft-embedding attack, the protocol (attacks/soft_embed.py): the opener filter, no attack as a
candidate (the column never below plain), the held-out choice, and the fingerprint's version."""

import logging

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.attacks import soft_embed
from causal_unlearn.attacks.common import attack_fingerprint
from causal_unlearn.attacks.soft_embed import (NO_ATTACK, Candidate, answerer_for, held_out_protocol, held_out_split,
                                               keep_openers, opener_recalls, protocol_settings, recalls,
                                               same_questions_protocol)
from causal_unlearn.attacks.soft_embed_vectors import attack_items, no_attack
from causal_unlearn.core.configs import compose_config

SETTINGS = {"num_tokens": 4, "init_text": " Please answer the question.", "lr": 0.05, "weight_decay": 0.01,
            "anchor": 0.0, "loss_threshold": 0.3, "epochs": 3, "restarts": 2, "batch_size": 8, "num_openers": 2,
            "generate_batch_size": 4, "max_new_tokens": 8, "seed": 0}
QUESTIONS = ["Who drew the Roads of the Northern Fens?", "Where was Harlan J. Whitcombe born?",
             "What did Zoe Ellingrath study?", "Which medal did Zoe Ellingrath win?"]


@pytest.fixture(scope="module")
def talkative_model(tiny_model):
    """Large random untied weights: answers that depend on every input position (tiny-random echoes)."""
    from transformers import AutoModelForCausalLM

    config = tiny_model.config.__class__.from_dict({**tiny_model.config.to_dict(), "initializer_range": 0.5,
                                                    "tie_word_embeddings": False})
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture(scope="module")
def world(tiny_family, tiny_tokenizer, talkative_model):
    """Questions whose gold answers are the plain model's own answers: plain recall is 1 on each,
    so anything the attack changes can only lower it."""
    items = attack_items(tiny_family, tiny_tokenizer, [{"question": q} for q in QUESTIONS], None)
    answerer = answerer_for(talkative_model, tiny_tokenizer, items, OmegaConf.create(SETTINGS))
    answers = answerer.answers(no_attack(talkative_model))
    rows = [{"question": q, "answer": a} for q, a in zip(QUESTIONS, answers)]
    plain = Candidate(NO_ATTACK, answers, recalls(answers, answers))
    assert plain.recalls == [1.0] * len(QUESTIONS)  # the golds have words ROUGE can count
    return answerer, rows, plain


def test_keep_openers_keeps_those_within_one_answer_of_plain(caplog):
    plain = [1.0, 1.0, 0.5, 1.0]
    table = [[1.0, 1.0, 0.5, 1.0],   # as plain
             [1.0, 1.0, 0.5, 0.0],   # one answer lower (1 / 4): kept
             [1.0, 0.0, 0.5, 0.5],   # one and a half lower: dropped
             [1.0, 1.0, 1.0, 1.0]]   # better than plain
    assert keep_openers(table, plain, [0, 1, 2, 3]) == [3, 0, 1]  # the best first: restart 0 trains for it
    assert keep_openers(table, plain, [0, 1]) == [0, 1, 3, 2]  # on this half opener 2 loses just one answer
    with caplog.at_level(logging.WARNING, logger="soft_embed_attack"):
        assert keep_openers([[0.0, 0.0, 0.0, 0.5], [0.0, 0.0, 0.5, 0.5]], plain, [0, 1, 2, 3]) == [1]
    assert "no opener keeps recall" in caplog.text


def test_the_filter_drops_an_opener_that_steers_the_model_off_its_answer(tiny_tokenizer, talkative_model, world):
    answerer, rows, plain = world
    tokens = answerer.tokens(no_attack(talkative_model))
    golds = [row["answer"] for row in rows]
    own_start = [row[:2] for row in tokens]  # the model's own first tokens: it goes on as it would have
    off_track = [tiny_tokenizer("Zebra quantum banana", add_special_tokens=False)["input_ids"] for _ in rows]
    answerer.max_new_tokens = 6  # 2 forced + 6 = the 8 tokens of the plain answers
    table = [recalls(golds, answerer.answers(no_attack(talkative_model), forced)) for forced in (own_start, off_track)]
    answerer.max_new_tokens = SETTINGS["max_new_tokens"]
    assert table[0] == plain.recalls and sum(table[1]) < sum(plain.recalls) - 1  # more than one answer lost
    assert keep_openers(table, plain.recalls, list(range(len(rows)))) == [0]


def test_opener_recalls_forces_each_candidate_template(monkeypatch, tiny_tokenizer, talkative_model, world):
    answerer, rows, _ = world
    monkeypatch.setattr(soft_embed, "OPENERS", ["{name}", "Zebra quantum banana {name}", "never asked"])
    table = opener_recalls(answerer, [r["answer"] for r in rows], SETTINGS["num_openers"])
    assert len(table) == SETTINGS["num_openers"]  # "never asked" is beyond num_openers
    for row, template in zip(table, soft_embed.OPENERS):
        openers = [template.format(name=item.name) for item in answerer.items]
        forced = [tiny_tokenizer(opener, add_special_tokens=False)["input_ids"] for opener in openers]
        answers = answerer.answers(no_attack(talkative_model), forced)
        assert row == recalls([r["answer"] for r in rows], answers)
        assert all(answer.startswith(opener) for opener, answer in zip(openers, answers))


def test_openers_are_tried_in_order_until_every_protocol_keeps_enough(monkeypatch, world):
    answerer, rows, _ = world
    monkeypatch.setattr(soft_embed, "OPENERS", ["{name}", "Zebra {name}", "Quantum {name}"])
    golds = [r["answer"] for r in rows]
    groups = [list(range(len(rows))), [0, 1]]  # all questions, and a held-out training half
    any_opener_keeps = [0.0] * len(rows)  # plain recall 0: every opener is within one answer of it
    assert len(opener_recalls(answerer, golds, 3, any_opener_keeps, groups, wanted=1)) == 1
    assert len(opener_recalls(answerer, golds, 3, any_opener_keeps, groups, wanted=2)) == 2
    none_keeps = [2.0] * len(rows)  # above any recall: no opener qualifies, so every candidate is tried
    assert len(opener_recalls(answerer, golds, 3, none_keeps, groups, wanted=1)) == 3
    assert len(opener_recalls(answerer, golds, 3)) == 3  # without groups: every candidate


@pytest.mark.parametrize("changes, steps", [({"lr": 0.0}, 3), ({}, 0)])
def test_the_column_is_never_below_plain(tiny_tokenizer, talkative_model, world, changes, steps):
    answerer, rows, plain = world
    settings = OmegaConf.create({**SETTINGS, **changes})
    table = opener_recalls(answerer, [r["answer"] for r in rows], settings.num_openers)
    same = same_questions_protocol(answerer, rows, settings, plain, table, steps)
    assert same["best_trained"].score < plain.score  # the vectors alone answer worse: the case is real
    assert same["chosen"] is plain and same["chosen"].score == plain.score
    assert all(c.training.steps == steps for c in same["candidates"][1:])
    held_out = held_out_protocol(answerer, rows, settings, plain, table, steps)
    assert held_out["chosen"] == NO_ATTACK and held_out["RougeL"] == 1.0
    assert [c["name"] for c in held_out["candidates_train"]] == [NO_ATTACK, "restart 0", "restart 1"]


def test_held_out_trains_with_the_same_cap_and_scores_the_other_half(tiny_tokenizer, talkative_model, world):
    answerer, rows, plain = world
    settings = OmegaConf.create({**SETTINGS, "loss_threshold": 1e-6})
    table = opener_recalls(answerer, [r["answer"] for r in rows], settings.num_openers)
    held_out = held_out_protocol(answerer, rows, settings, plain, table, 5)
    assert [c.get("steps") for c in held_out["candidates_train"]] == [None, 5, 5]  # not one step
    assert [t[0] for t in held_out["generated_text"]] == [QUESTIONS[i] for i in held_out["test_rows"]]
    assert sorted(held_out["train_rows"] + held_out["test_rows"]) == [0, 1, 2, 3]


def test_held_out_halves_are_seeded_and_disjoint():
    train, test = held_out_split(7, seed=0)
    assert (train, test) == held_out_split(7, seed=0)
    assert sorted(train + test) == list(range(7)) and len(train) == 4


def test_the_fingerprint_changes_with_the_protocol_version(monkeypatch):
    cfg = compose_config("forget_mini.yaml", ["model_family=tiny-random", "forget_loss=none"])
    settings = protocol_settings(cfg.soft_embed)
    assert settings.protocol_version == soft_embed.PROTOCOL_VERSION and settings.lr == cfg.soft_embed.lr
    current = attack_fingerprint(cfg, settings, None, None)
    assert attack_fingerprint(cfg, protocol_settings(cfg.soft_embed), None, None) == current
    monkeypatch.setattr(soft_embed, "PROTOCOL_VERSION", soft_embed.PROTOCOL_VERSION + 1)
    assert attack_fingerprint(cfg, protocol_settings(cfg.soft_embed), None, None) != current


def test_unseen_questions_are_answered_with_each_restart_in_its_own_pass(tiny_tokenizer, talkative_model, world):
    """The held-out protocol's scored half is answered in each restart's answer pass: those answers
    are what the restart's vectors give the scored half alone, and the trained half's stay its own."""
    from causal_unlearn.attacks.soft_embed import train_restarts

    answerer, rows, _ = world
    settings = OmegaConf.create(SETTINGS)
    train, test = [0, 2], [1, 3]
    half = answerer_for(talkative_model, tiny_tokenizer, [answerer.items[i] for i in train], settings)
    restarts = train_restarts(half, [rows[i]["answer"] for i in train], [0], settings, 2, "test",
                              [answerer.items[i] for i in test])
    alone = answerer_for(talkative_model, tiny_tokenizer, [answerer.items[i] for i in test], settings)
    for restart in restarts:
        assert restart.unseen_answers == alone.answers(restart.training.attack)
        assert restart.answers == half.answers(restart.training.attack)
    assert restarts[0].unseen_answers != restarts[0].answers  # different questions, different answers: a mix-up shows
