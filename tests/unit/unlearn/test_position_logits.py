"""The methods read the model's logits only where their loss looks (methods/base.py); those rows must be
exactly the full forward's rows at the same places, in the order the losses expect."""

import torch

from causal_unlearn.unlearn.losses import Predictions, logits_at_positions, mean_token_nll, next_token_mask, sequence_nll
from causal_unlearn.unlearn.methods.base import predictions, teacher_position_logits


def padded_batch(tokenizer, texts: list[str]) -> dict:
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    width = max(map(len, encoded))
    ids = torch.tensor([row + [0] * (width - len(row)) for row in encoded])
    mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in encoded])
    return {"input_ids": ids, "attention_mask": mask}


def full_logits(model, batch: dict) -> torch.Tensor:
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def test_next_token_mask_marks_the_positions_that_predict_a_label():
    labels = torch.tensor([[-100, -100, 5, 6], [-100, 7, -100, -100]])
    assert next_token_mask(labels).tolist() == [[False, True, True, False], [True, False, False, False]]


def test_predictions_are_the_full_forward_at_the_labelled_positions(tiny_model, tiny_tokenizer):
    batch = padded_batch(tiny_tokenizer, ["Ada Quill opened the northern archive.", "Bram Oake sailed."])
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    labels[:, :3] = -100  # a prompt the loss does not read
    batch["labels"] = labels
    with torch.no_grad():
        kept, full = predictions(tiny_model, batch), Predictions.of(full_logits(tiny_model, batch), labels)
    assert kept.logits.shape == (int(next_token_mask(labels).sum()), tiny_model.config.vocab_size)
    assert torch.allclose(kept.logits, full.logits, atol=1e-5)
    assert torch.equal(kept.targets, full.targets) and torch.equal(kept.rows, full.rows)
    assert torch.allclose(sequence_nll(kept), sequence_nll(full), atol=1e-4)
    assert torch.allclose(mean_token_nll(kept), mean_token_nll(full), atol=1e-5)


def test_teacher_position_logits_follow_position_mask_order_even_unsorted_and_repeated(tiny_model, tiny_tokenizer):
    batch = padded_batch(tiny_tokenizer, ["Ada Quill opened the northern archive.", "Bram Oake sailed."])
    # sequence 0 stores positions 4, 1, 4 (unsorted, one repeated); sequence 1 stores position 2 and a padded slot
    batch["positions"] = torch.tensor([[4, 1, 4], [2, 0, 0]])
    batch["position_mask"] = torch.tensor([[True, True, True], [True, False, False]])
    with torch.no_grad():
        kept, full = teacher_position_logits(tiny_model, batch), logits_at_positions(full_logits(tiny_model, batch), batch)
    assert kept.shape == (4, tiny_model.config.vocab_size)
    assert torch.allclose(kept, full, atol=1e-5)
    assert not torch.allclose(kept[0], kept[1])  # the rows differ, so a mix-up would show


def test_the_kl_in_blocks_has_the_value_and_gradient_of_the_kl_in_one_piece(monkeypatch):
    from causal_unlearn.unlearn import losses

    torch.manual_seed(0)
    batch = {"input_ids": torch.zeros(2, 6, dtype=torch.long), "positions": torch.tensor([[0, 2, 3, 4], [1, 5, 0, 0]]),
             "position_mask": torch.tensor([[True, True, True, True], [True, True, False, False]]),
             "topk_ids": torch.randint(0, 11, (2, 4, 3), dtype=torch.int32), "topk_probs": torch.rand(2, 4, 3) / 4,
             "residual": torch.full((2, 4), 0.25)}
    logits = torch.randn(6, 11)

    def value_and_gradient(block: int):
        monkeypatch.setattr(losses, "KL_BLOCK", block)
        leaf = logits.clone().requires_grad_(True)
        value = losses.mean_positional_kl(leaf, batch)
        value.backward()
        return value.detach(), leaf.grad

    (whole, whole_grad), (blocked, blocked_grad) = value_and_gradient(10**6), value_and_gradient(4)
    assert torch.allclose(whole, blocked) and torch.allclose(whole_grad, blocked_grad)
    assert whole_grad.abs().sum() > 0
