"""General-knowledge replay distilled from the start model (finetune.py with `replay_titles`).

A knowledge implant replays general QA so that the model keeps what it knew while it learns the
world. Learned as answers, the replay teaches only its own sentences, and a small model still drifts
on general questions the replay does not ask (it starts to answer "Mars" for the planet we live on).
Distilled, every position of a replay chat is pulled toward the start model's whole next-token
distribution on the same text (learning without forgetting, Li and Hoiem, 2016): every alternative
the start model ranked is kept, not one token per position. The world's rows keep the causal-LM loss.
"""

import copy

import torch
import torch.nn.functional as F
from transformers import Trainer

from causal_unlearn.unlearn.collators import PaddingCollator
from causal_unlearn.unlearn.losses import Predictions


class ReplayCollator(PaddingCollator):
    """Dynamic padding, plus each sequence's replay flag (B,) bool."""

    def __call__(self, features: list[dict]) -> dict:
        batch = super().__call__(features)
        batch["replay"] = torch.tensor([bool(f["replay"]) for f in features])
        return batch


def replay_positions(attention_mask: torch.Tensor, replay: torch.Tensor) -> torch.Tensor:
    """(B, L) bool: in replay rows, every position whose next token is a real one (not padding)."""
    positions = torch.zeros_like(attention_mask, dtype=torch.bool)
    positions[:, :-1] = attention_mask[:, 1:].bool()
    return positions & replay[:, None]


def implant_loss(logits: torch.Tensor, labels: torch.Tensor, attention_mask: torch.Tensor, replay: torch.Tensor,
                 start_logits: torch.Tensor | None) -> torch.Tensor:
    """The causal-LM loss on the labelled tokens of the world's rows plus KL(start || model) at every
    position of the replay rows, one sum over both kinds of token divided by their number (so a
    replay position weighs what a labelled world token weighs).

    logits (B, L, V); start_logits: the start model's logits for the replay rows only (R, L, V), or
    None when the batch has none.
    """
    learned = Predictions.of(logits, labels.masked_fill(replay[:, None], -100))
    total = learned.nll().sum()
    count = torch.tensor(len(learned.targets), device=logits.device)
    if start_logits is not None:
        distilled = replay_positions(attention_mask, replay)
        log_model = F.log_softmax(logits[distilled].float(), dim=-1)
        log_start = F.log_softmax(start_logits[distilled[replay]].float(), dim=-1)
        total = total + F.kl_div(log_model, log_start, log_target=True, reduction="sum")
        count = count + distilled.sum()
    return total / count.clamp(min=1)


class ReplayDistillTrainer(Trainer):
    """The Hugging Face Trainer with `implant_loss`; the start model is a frozen copy of the model
    it is given, taken before training moves it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.start_model = copy.deepcopy(self.model).eval().requires_grad_(False).to(self.args.device)
        # The loss is a mean over the micro-batch; the Trainer divides by the accumulation steps.
        self.model_accepts_loss_kwargs = False

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        replay, labels = inputs["replay"], inputs["labels"]
        ids, attention = inputs["input_ids"], inputs["attention_mask"]
        logits = model(input_ids=ids, attention_mask=attention).logits
        start_logits = None
        if replay.any():
            with torch.no_grad():
                start_logits = self.start_model(input_ids=ids[replay], attention_mask=attention[replay]).logits
        loss = implant_loss(logits, labels, attention, replay, start_logits)
        return (loss, {"logits": logits}) if return_outputs else loss
