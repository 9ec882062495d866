"""Losses (unlearn/losses.py): the compact KL, the NPO loss, and the KL retain loss against the
references unlearn/items.py attaches to retain documents."""

import math

import pytest
import torch

from causal_unlearn.unlearn.losses import compact_kl, npo_loss


def test_kl_retain_loss_is_zero_for_the_original_model_and_grows_when_it_changes(tiny_model, tiny_tokenizer):
    import copy

    from causal_unlearn.core.data import encode_document
    from causal_unlearn.unlearn.collators import UnlearnCollator
    from causal_unlearn.unlearn.items import attach_target_distributions
    from causal_unlearn.unlearn.losses import mean_positional_kl
    from causal_unlearn.unlearn.methods.base import teacher_position_logits

    texts = ["Tobiah Grennick was an astronomer from Varnholt.", "Ilse Marrowby wrote for the Ostremere Gazette."]
    retain = [encode_document(tiny_tokenizer, text, 64) for text in texts]
    attach_target_distributions(tiny_model, retain, top_k=8, kl_budget=3e-6)
    assert all(len(item["positions"]) == len(item["input_ids"]) - 1 for item in retain)
    batch = UnlearnCollator(tiny_tokenizer.pad_token_id)(retain)["forget"]
    with torch.no_grad():
        same = mean_positional_kl(teacher_position_logits(tiny_model, batch), batch)
        changed = copy.deepcopy(tiny_model)
        for parameter in changed.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.5)
        moved = mean_positional_kl(teacher_position_logits(changed, batch), batch)
    assert abs(same.item()) < 1e-4 and moved.item() > 1e-3


def test_compact_kl_equals_dense_kl_when_the_teacher_fits_in_top_k():
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(5, 12) * 3, -1)
    student_logits = torch.randn(5, 12)
    dense = (teacher * (teacher.log() - torch.log_softmax(student_logits, -1))).sum(-1)
    top = torch.topk(teacher, 12, -1)
    exact = compact_kl(student_logits, top.indices, top.values, torch.zeros(5))
    assert torch.allclose(exact, dense, atol=1e-5)
    top4 = torch.topk(teacher, 4, -1)
    lower = compact_kl(student_logits, top4.indices, top4.values, 1 - top4.values.sum(-1))
    assert torch.all(lower <= dense + 1e-6) and torch.all(lower >= 0)


def test_npo_loss_is_zero_gradient_free_at_the_reference():
    nll = torch.tensor([3.0, 5.0], requires_grad=True)
    loss = npo_loss(nll, nll.detach(), beta=0.1)
    assert loss.item() == pytest.approx(-(2 / 0.1) * math.log(0.5))
    loss.backward()
    assert torch.all(nll.grad < 0)  # pushing the NLL up lowers the loss: the model forgets


def test_compact_kl_gradient_is_finite_when_a_row_keeps_every_token():
    teacher = torch.softmax(torch.randn(3, 6), -1)
    top = torch.topk(teacher, 6, -1)  # every id kept: no mass outside, residual 0
    student_logits = torch.randn(3, 6, requires_grad=True)
    compact_kl(student_logits, top.indices, top.values, torch.zeros(3)).sum().backward()
    expected = torch.softmax(student_logits.detach(), -1) - teacher  # d KL(p || softmax(z)) / dz
    assert torch.isfinite(student_logits.grad).all()
    assert torch.allclose(student_logits.grad, expected, atol=1e-5)
