"""The losses of simnpo, dpo, rmu, undial, wga, satimp and ceu pinned on tiny hand-computed
batches (values and, where it is the point, gradients)."""

import math

import pytest
import torch

from causal_unlearn.unlearn.losses import (Predictions, activation_mse, ceu_loss, dpo_loss, logits_at_positions,
                                           mean_positional_kl, satimp_loss, simnpo_loss, weighted_ascent_loss)

E = math.e
# One sequence of three positions over a vocabulary of three: position 0 predicts label 0,
# position 1 predicts label 2; position 2 predicts nothing.
LOGITS = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [5.0, 5.0, 5.0]]])
LABELS = torch.tensor([[-100, 0, 2]])
P1, P2 = E ** 2 / (E ** 2 + 2), 1 / (E + 2)  # the model's probabilities of the two labels
NLL1, NLL2 = -math.log(P1), -math.log(P2)


def logits_with_grad():
    return LOGITS.clone().requires_grad_(True)


def test_simnpo_is_npo_on_the_length_normalised_nll_with_a_margin():
    loss = simnpo_loss(torch.tensor([NLL1 + NLL2]), torch.tensor([2]), beta=2.0, margin=0.5)
    expected = -(2 / 2.0) * math.log(1 / (1 + math.exp(-(2.0 * (NLL1 + NLL2) / 2 - 0.5))))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    # lower NLL (a sequence still known) costs more: minimising pushes the NLL up
    assert simnpo_loss(torch.tensor([0.5]), torch.tensor([2]), 2.0, 0.5) > simnpo_loss(torch.tensor([5.0]), torch.tensor([2]), 2.0, 0.5)


def test_dpo_prefers_the_refusal_over_the_gold_answer_relative_to_the_reference():
    loss = dpo_loss(torch.tensor([2.0]), torch.tensor([3.0]), torch.tensor([5.0]), torch.tensor([4.0]), beta=0.5)
    # margin = (3 - 2) - (4 - 5) = 2; -(2 / 0.5) * log sigmoid(0.5 * 2)
    assert loss.item() == pytest.approx(4 * math.log(1 + math.exp(-1.0)), rel=1e-6)
    nll_preferred = torch.tensor([2.0], requires_grad=True)
    dpo_loss(nll_preferred, torch.tensor([3.0]), torch.tensor([5.0]), torch.tensor([4.0]), 0.5).backward()
    assert nll_preferred.grad.item() > 0  # descending lowers the refusal's NLL


def test_wga_weights_each_token_by_its_probability_without_a_gradient_through_the_weight():
    logits = logits_with_grad()
    loss = weighted_ascent_loss(Predictions.of(logits, LABELS), beta=1.0)
    assert loss.item() == pytest.approx(-(P1 * NLL1 + P2 * NLL2) / 2, rel=1e-6)
    loss.backward()
    # d/dz of -w * NLL with w constant: -w * (softmax - onehot) / 2; at the first position's label: -P1 * (P1 - 1) / 2
    assert logits.grad[0, 0, 0].item() == pytest.approx(-P1 * (P1 - 1) / 2, rel=1e-5)
    assert logits.grad[0, 0, 0].item() > 0  # ascent: descending lowers the true token's logit


def test_wga_beta_zero_is_plain_gradient_ascent():
    assert weighted_ascent_loss(Predictions.of(LOGITS, LABELS), beta=0.0).item() == pytest.approx(-(NLL1 + NLL2) / 2, rel=1e-6)


def test_satimp_weights_by_saturation_and_importance():
    loss = satimp_loss(Predictions.of(LOGITS, LABELS), beta1=2.0, beta2=1.0)
    expected = -(P1 ** 2 * (1 - P1) * NLL1 + P2 ** 2 * (1 - P2) * NLL2) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    logits = logits_with_grad()
    satimp_loss(Predictions.of(logits, LABELS), 2.0, 1.0).backward()
    assert logits.grad[0, 0, 0].item() == pytest.approx(-(P1 ** 2 * (1 - P1)) * (P1 - 1) / 2, rel=1e-5)


def test_ceu_trains_towards_the_model_with_the_true_token_masked():
    # position 0: target softmax([-inf, 0, 0]) = [0, .5, .5], q = [e^2, 1, 1] / (e^2 + 2) -> CE = log(e^2 + 2)
    # position 1: target softmax([0, 1, -inf]) = [1, e, 0] / (1 + e), q = [1, e, 1] / (e + 2) -> CE = log(e + 2) - e / (1 + e)
    expected = (math.log(E ** 2 + 2) + math.log(E + 2) - E / (1 + E)) / 2
    logits = logits_with_grad()
    loss = ceu_loss(Predictions.of(logits, LABELS))
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    loss.backward()
    # gradient (q - target) / 2 with the target held fixed: at position 0, label 0: (P1 - 0) / 2
    assert logits.grad[0, 0, 0].item() == pytest.approx(P1 / 2, rel=1e-5)
    assert logits.grad[0, 0, 1].item() == pytest.approx((1 / (E ** 2 + 2) - 0.5) / 2, rel=1e-5)  # other tokens too
    assert logits.grad[0, 1, 0].item() == pytest.approx((1 / (E + 2) - 1 / (1 + E)) / 2, rel=1e-5)
    assert logits.grad[0, 2].abs().sum().item() == 0  # unlabelled positions train nothing


def test_activation_mse_is_the_mean_over_masked_tokens_of_the_mean_square_over_dimensions():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[0.0, 2.0], [2.0, 0.0]]])
    mask = torch.tensor([[1, 0], [1, 1]])
    # sequence 0: (1 + 4) / 2 = 2.5 (second token masked); sequence 1: (0 + 4) / 2 and (4 + 0) / 2 -> 2
    assert activation_mse(hidden, torch.zeros_like(hidden), mask).item() == pytest.approx((2.5 + 2.0) / 2)


def test_undial_target_is_the_initial_distribution_with_the_true_logit_lowered(tiny_model, tiny_tokenizer):
    import copy

    from causal_unlearn.unlearn.collators import UnlearnCollator
    from causal_unlearn.unlearn.items import attach_target_distributions

    model = copy.deepcopy(tiny_model)
    with torch.no_grad():  # sharper rows than the random model's near-uniform ones, so the penalty matters
        model.get_output_embeddings().weight.mul_(10.0)
    ids = tiny_tokenizer("Ada Quill opened", add_special_tokens=False)["input_ids"]
    with torch.no_grad():  # the model's own greedy text: its labels carry real mass, so lowering them matters
        for _ in range(8):
            ids.append(int(model(input_ids=torch.tensor([ids])).logits[0, -1].argmax()))
    item = {"input_ids": ids, "labels": list(ids)}
    attach_target_distributions(model, [item], top_k=len(tiny_tokenizer), kl_budget=0.0, label_penalty=3.0)
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, :-1].float()
    adjusted = logits.clone()
    adjusted[torch.arange(len(ids) - 1), torch.tensor(ids[1:])] -= 3.0
    wanted = torch.softmax(adjusted, dim=-1)
    stored = torch.zeros_like(wanted)
    for row, (token_ids, probs) in enumerate(zip(item["topk_ids"], item["topk_probs"])):
        stored[row, torch.as_tensor(token_ids, dtype=torch.long)] = torch.as_tensor(probs)
    assert torch.allclose(stored, wanted, atol=2e-3)  # stored at float16 precision
    # the loss is KL(target || student): zero for a student that already is the target, and for the
    # initial model the KL its own lowered-logit target keeps from it
    batch = UnlearnCollator(0)([item])["forget"]
    as_target = torch.cat([torch.log(wanted.clamp(min=1e-30)), torch.zeros(1, wanted.shape[-1])])[None]
    assert mean_positional_kl(logits_at_positions(as_target, batch), batch).item() == pytest.approx(0.0, abs=1e-4)
    full = torch.cat([logits, torch.zeros(1, logits.shape[-1])])[None]
    by_hand = (torch.xlogy(wanted, wanted) - wanted * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    assert mean_positional_kl(logits_at_positions(full, batch), batch).item() == pytest.approx(by_hand.item(), rel=2e-2)
    assert by_hand.item() > 0.01
