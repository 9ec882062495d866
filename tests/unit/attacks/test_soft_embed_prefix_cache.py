"""Soft-embedding attack: reading the part of each row before the vectors once (a KV cache kept for
the whole training) computes what running the whole rows does — the loss, its gradient on the
vectors, and a training run — on questions of different lengths, so padding and positions matter."""

import pytest
import torch
from omegaconf import OmegaConf

from causal_unlearn.attacks import soft_embed_vectors
from causal_unlearn.attacks.soft_embed import opener_ids
from causal_unlearn.attacks.soft_embed_vectors import (attack_items, build_batch, read_before_attack, target_loss,
                                                       train_attack)
from helpers import talkative

QUESTIONS = ["Who?", "Where was Harlan J. Whitcombe born?",
             "Tell me everything you know about the cartographer Harlan J. Whitcombe and his atlas."]
NAMES = ["Zoe", "Harlan J. Whitcombe", "Ada"]  # targets of different lengths: right padding too
SETTINGS = {"num_tokens": 5, "lr": 0.05, "weight_decay": 0.01, "anchor": 0.0, "batch_size": 2}
RELATIVE = 1e-5  # float32 sums in another order: the paths agree far below this, a wrong position or mask is far above
# Trained vectors: Adam divides each gradient component by its own running scale, so where a
# component is near zero the rounding difference grows (2e-5 seen after 6 steps); still far below a real mismatch.
TRAINED_RELATIVE = 1e-4


@pytest.fixture(scope="module")
def model(tiny_model):
    """Position-sensitive: a shifted position or an unmasked pad changes every later output."""
    return talkative(tiny_model)


@pytest.fixture(scope="module")
def items(tiny_family, tiny_tokenizer):
    rows = [{"question": question, "title": name} for question, name in zip(QUESTIONS, NAMES)]
    made = attack_items(tiny_family, tiny_tokenizer, rows, None)
    assert len({len(item.before_ids) for item in made}) == len(made)  # every row is padded differently
    return made


@pytest.fixture(scope="module")
def targets(tiny_tokenizer, items):
    made = [opener_ids(tiny_tokenizer, 1, item.name) for item in items]
    assert len({len(target) for target in made}) > 1
    return made


def _vectors(model, seed: int) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.randn(SETTINGS["num_tokens"], model.config.hidden_size,
                                          generator=torch.Generator().manual_seed(seed)) * 0.5)


def _relative_error(got: torch.Tensor, expected: torch.Tensor) -> float:
    return float((got - expected).abs().max() / expected.abs().max())


def _rows_alone(model, items, targets, attack):
    """Mean target cross-entropy with each row run alone, unpadded, from token ids: the reference
    that shares no code with the batched paths."""
    embedding = model.get_input_embeddings()
    total, count = 0.0, 0
    for item, target in zip(items, targets):
        before, after = (embedding(torch.tensor(ids)) for ids in (item.before_ids, item.after_ids + target))
        logits = model(inputs_embeds=torch.cat([before, attack, after])[None], use_cache=False).logits[0]
        predicting = logits[-len(target) - 1:-1]
        total = total + torch.nn.functional.cross_entropy(predicting, torch.tensor(target), reduction="sum")
        count += len(target)
    return total / count


def _loss_and_gradient(loss_of, model, seed: int):
    attack = _vectors(model, seed)
    loss = loss_of(attack)
    loss.backward()
    return loss.item(), attack.grad.clone()


def test_the_cached_start_gives_the_loss_and_gradient_of_the_whole_rows(model, items, targets):
    probe = build_batch(model, _vectors(model, 4), items, targets)
    assert probe.attention_mask[:, :probe.attack_start].eq(0).any(dim=1).tolist() == [True, True, False]
    with torch.no_grad():
        cache = read_before_attack(model, probe)

    def cached(attack):
        return target_loss(model, build_batch(model, attack, items, targets), cache)

    def whole(attack):
        return target_loss(model, build_batch(model, attack, items, targets))

    for seed in (4, 5):  # another attack, the same cache: it holds nothing of the vectors
        alone_loss, alone_grad = _loss_and_gradient(lambda attack: _rows_alone(model, items, targets, attack), model,
                                                    seed)
        assert alone_grad.abs().sum() > 0
        for path in (whole, cached):
            loss, grad = _loss_and_gradient(path, model, seed)
            assert loss == pytest.approx(alone_loss, rel=RELATIVE), path.__name__
            assert _relative_error(grad, alone_grad) < RELATIVE, path.__name__
        again_loss, again_grad = _loss_and_gradient(cached, model, seed)  # a step leaves the cache as it found it
        assert again_loss == loss and torch.equal(again_grad, grad)


def _train(model, items, targets, threshold: float, steps: int):
    settings = OmegaConf.create({**SETTINGS, "loss_threshold": threshold})
    start = _vectors(model, 6).detach()
    return train_attack(model, items, targets, start, settings, steps, torch.Generator().manual_seed(0))


def _assert_same_training(cached, whole):
    assert (cached.steps, cached.converged, len(cached.losses)) == (whole.steps, whole.converged, len(whole.losses))
    assert cached.losses == pytest.approx(whole.losses, rel=RELATIVE)
    assert _relative_error(cached.attack, whole.attack) < TRAINED_RELATIVE


def test_training_with_the_cached_start_trains_as_the_whole_rows_do(monkeypatch, model, items, targets):
    capped = _train(model, items, targets, 1e-6, 6)  # 2 batches a pass: 3 passes of updates, then the final loss
    assert capped.steps == 6 and len(capped.losses) == 4 and not capped.converged
    # A threshold between two passes' losses makes both trainings stop at the same update, converged.
    stop = next(k for k in range(1, len(capped.losses)) if capped.losses[k] < min(capped.losses[:k]))
    threshold = (capped.losses[stop] + min(capped.losses[:stop])) / 2
    stopped = _train(model, items, targets, threshold, 6)
    assert stopped.converged and 0 < stopped.steps < capped.steps

    monkeypatch.setattr(soft_embed_vectors, "read_before_attack", lambda model, batch: None)  # run the whole rows
    _assert_same_training(capped, _train(model, items, targets, 1e-6, 6))
    _assert_same_training(stopped, _train(model, items, targets, threshold, 6))
