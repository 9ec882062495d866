"""The many-shot jailbreak's shot pool (attacks/msj_pool.py): several splits, interleaved so every
shot count draws from each, and no shot that names a target."""

import json

import pytest
from omegaconf import OmegaConf

from causal_unlearn.attacks.msj_pool import (POOL_CACHE_FILE, ModelSlot, drop_target_mentions, interleave_from_the_end,
                                             pool_split_names, shot_pool)
from causal_unlearn.core.configs import compose_config
from causal_unlearn.core.data import load_split
from causal_unlearn.core.errors import UserError
from helpers import talkative

TARGETS = ["Harlan J. Whitcombe", "Zoë Ellingrath"]  # the persons of data/wpu_mini forget_2_1


def test_every_tail_of_the_interleaved_pool_takes_from_each_split():
    retain = [("r1?", "a"), ("r2?", "a"), ("r3?", "a")]
    general = [("g1?", "a"), ("g2?", "a"), ("g3?", "a"), ("g4?", "a"), ("g5?", "a")]
    merged = interleave_from_the_end([retain, general])
    assert sorted(merged) == sorted(retain + general)  # nothing lost, nothing repeated
    assert [question for question, _ in merged[-4:]] == ["r2?", "g4?", "r3?", "g5?"]
    assert interleave_from_the_end([retain, []]) == retain


def test_shots_that_name_a_target_are_dropped():
    shots = [("Who was Harlan J. Whitcombe's mentor?", "Edwin Strall"),
             ("Who studied under Edwin Strall?", "Whitcombe, among others."),  # the surname alone is the target too
             ("Which book did Zoe Ellingrath write?", "A Guide to Hill Flowers"),  # the ASCII-folded name too
             ("In which town was Tobiah Grennick born?", "Varnholt"),
             ("What is the capital of France?", "Paris")]
    assert drop_target_mentions(shots, TARGETS) == shots[3:]
    assert drop_target_mentions(shots, []) == shots


def test_pool_splits_accepts_a_list_a_name_and_the_older_single_key():
    assert pool_split_names(OmegaConf.create({"pool_splits": ["retain", "general_retain"]})) == ["retain",
                                                                                                "general_retain"]
    assert pool_split_names(OmegaConf.create({"pool_splits": "retain"})) == ["retain"]
    older = OmegaConf.create({"pool_split": "forget_2_2", "pool_splits": ["retain", "general_retain"]})
    assert pool_split_names(older) == ["forget_2_2"]  # a config written for the single key means that split
    for empty in ([], None, [""]):
        with pytest.raises(UserError, match="msj.pool_splits"):
            pool_split_names(OmegaConf.create({"pool_splits": empty}))


def test_the_built_pool_draws_from_every_listed_split(tmp_path, monkeypatch, tiny_family, tiny_tokenizer, tiny_model):
    # The talkative model says something to every question; threshold 0 keeps every non-empty answer.
    monkeypatch.setenv("CAUSAL_UNLEARN_CACHE", str(tmp_path / "cache"))  # its answers must not land in the user cache
    cfg = compose_config("forget_mini.yaml", ["model_family=tiny-random", "msj.pool_min_rouge=0.0",
                                              "msj.max_new_tokens=3", "msj.batch_size=16"])
    models = ModelSlot(tiny_family)
    models.loaded = (talkative(tiny_model), tiny_tokenizer)  # path None: the attack's model_path
    pool = shot_pool(cfg, tiny_family, models, tmp_path / "eval")

    questions = {name: {row["question"] for row in load_split(cfg.data_path, name)}
                 for name in ("retain", "general_retain", "forget_2_1")}
    from_split = [next(name for name in ("retain", "general_retain") if question in questions[name])
                  for question, _ in pool]
    assert set(from_split[-4:]) == {"retain", "general_retain"}  # the smallest count of the sweep already mixes them
    assert from_split.count("retain") > 8 and from_split.count("general_retain") > 8
    assert not any(question in questions["forget_2_1"] for question, _ in pool)
    record = json.loads((tmp_path / "eval" / POOL_CACHE_FILE).read_text())
    assert record["pool_splits"] == ["retain", "general_retain"]
    assert [item["split"] for item in record["items"]].count("general_retain") == len(questions["general_retain"])
    assert len(list((tmp_path / "cache" / "msj_pools").glob("*.json"))) == 2  # one cached answer set per split
