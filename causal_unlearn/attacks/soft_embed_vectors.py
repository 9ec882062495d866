"""Soft-embedding attack, the mechanics: where the vectors sit, how they start, how they are
trained, and the greedy answers with them in place (soft_embed.py runs the protocol on top).

One row, as in the original ("[INST] {q}" + attack + " [/INST]"):

    [left pad][user turn up to the end of the question][attack][end of the user turn][assistant header][opener]

The vectors start as the embeddings of a real, neutral text (`soft_embed.init_text`), so before any
update the model reads ordinary words there. Training stops once a pass over the questions brings
the target loss below `soft_embed.loss_threshold`, or at the step cap.
"""

import copy
import logging
import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.lr_scheduler import LambdaLR

from causal_unlearn.core.errors import UserError
from causal_unlearn.core.prompts import split_at_assistant_turn
from causal_unlearn.eval.decoding import continue_greedily, stop_ids

logger = logging.getLogger("soft_embed_attack")
GRAD_CLIP = 1.0
IGNORE = -100  # label of positions the loss skips (everything but the target opener)
# Later restarts start from the init text plus Gaussian noise of this many embedding standard
# deviations: restarts that all began at the same point would only repeat one another.
RESTART_NOISE = 0.5


@dataclass(frozen=True)
class AttackItem:
    """One forget question cut where the attack goes: inside the user turn, right after the question."""

    before_ids: list[int]  # the prompt up to the end of the question
    after_ids: list[int]   # the end of the user turn and the assistant header
    name: str              # who the target opener names


@dataclass
class Batch:
    embeds: torch.Tensor          # (rows, length, hidden)
    attention_mask: torch.Tensor  # 1 on real positions, 0 on padding
    position_ids: torch.Tensor    # real tokens counted from 0, so padding shifts nothing
    labels: torch.Tensor          # target token ids, IGNORE elsewhere
    attack_start: int             # column where the attack begins in every row


@dataclass
class TrainedAttack:
    attack: torch.Tensor
    losses: list[float]  # mean target loss of each pass over the questions
    steps: int           # Adam updates made
    converged: bool      # the last pass ended below the loss threshold


def cut_inside_user_turn(family, tokenizer, question: str, system: str | None) -> tuple[str, str]:
    """The question prompt cut right after the question: (up to the question, end of user turn + assistant header)."""
    user, header = split_at_assistant_turn(family, tokenizer, question, system)  # refuses a format without an assistant turn
    end = user.rfind(question.strip())
    if end < 0:
        raise UserError(f"Family {family.name}: its prompt format changes the question's text, so the attack cannot be "
                        f"placed right after it inside the user turn; use a chat template that keeps the question as "
                        f"written, or prompt_format: tags (config/model_config.yaml).")
    end += len(question.strip())
    return user[:end], user[end:] + header


def attack_items(family, tokenizer, rows: list[dict], system: str | None) -> list[AttackItem]:
    def encode(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    items = []
    for row in rows:
        before, after = cut_inside_user_turn(family, tokenizer, row["question"], system)
        items.append(AttackItem(encode(before), encode(after), row.get("title") or row["question"]))
    return items


def no_attack(model) -> torch.Tensor:
    """Zero vectors: the rows are the plain prompts."""
    return torch.zeros(0, model.get_input_embeddings().weight.shape[1])


def build_batch(model, attack: torch.Tensor, items: list[AttackItem], targets: list[list[int]] | None = None,
                forced: list[list[int]] | None = None) -> Batch:
    """Rows of [pad][before][attack][pad][after + forced opener][target][pad], as embeddings.

    The part before the attack is left-padded and what follows it is right-aligned, so in every
    row the attack starts in the same column and the prompt ends in the same column (generation
    continues there; a forced opener of any length changes neither). Targets are right-padded.
    Padding is masked and positions count real tokens only, so a row reads what it would alone.
    Any family, through get_input_embeddings().
    """
    embedding = model.get_input_embeddings()
    weight = embedding.weight
    targets = targets or [[] for _ in items]
    forced = forced or [[] for _ in items]
    tails = [item.after_ids + opener for item, opener in zip(items, forced)]
    before_width = max(len(item.before_ids) for item in items)
    tail_width, target_width = max(len(tail) for tail in tails), max(len(target) for target in targets)

    def embed(ids: list[int]) -> torch.Tensor:
        return embedding(torch.tensor(ids, dtype=torch.long, device=weight.device))

    def pad(count: int) -> torch.Tensor:
        return weight.new_zeros(count, weight.shape[1])

    rows, masks, labels = [], [], []
    for item, tail, target in zip(items, tails, targets):
        left, middle, right = before_width - len(item.before_ids), tail_width - len(tail), target_width - len(target)
        rows.append(torch.cat([pad(left), embed(item.before_ids), attack.to(device=weight.device, dtype=weight.dtype),
                               pad(middle), embed(tail), embed(target), pad(right)]))
        masks.append([0] * left + [1] * (len(item.before_ids) + len(attack)) + [0] * middle
                     + [1] * (len(tail) + len(target)) + [0] * right)
        labels.append([IGNORE] * (before_width + len(attack) + tail_width) + target + [IGNORE] * right)
    mask = torch.tensor(masks, device=weight.device)
    return Batch(torch.stack(rows), mask, (mask.cumsum(-1) - 1).clamp(min=0),
                 torch.tensor(labels, dtype=torch.long, device=weight.device), before_width)


@torch.no_grad()
def read_before_attack(model, batch: Batch):
    """KV cache of the columns before the attack: they never change, so training and every answer
    pass over the same questions read them once."""
    split = batch.attack_start
    return model(inputs_embeds=batch.embeds[:, :split], attention_mask=batch.attention_mask[:, :split],
                 position_ids=batch.position_ids[:, :split], use_cache=True).past_key_values


def forward_after_attack_start(model, batch: Batch, before, **kwargs):
    """The model over the batch's columns from the attack on, reading a copy of `before` (the
    forward extends the cache it is given, and `before` serves many passes)."""
    split = batch.attack_start
    return model(inputs_embeds=batch.embeds[:, split:], attention_mask=batch.attention_mask,
                 position_ids=batch.position_ids[:, split:], past_key_values=copy.deepcopy(before), use_cache=True,
                 **kwargs)


def target_loss(model, batch: Batch, before=None) -> torch.Tensor:
    """Cross-entropy on the target tokens only (position t predicts token t + 1); `before` is
    read_before_attack's cache of this batch, or None to run the whole rows."""
    # With `before` the model reads from the attack on. It never reads the last column: that token
    # predicts past the end of every row, and causal attention makes it invisible to the others.
    start, end = (0 if before is None else batch.attack_start), batch.embeds.shape[1] - 1
    # Targets are right-padded at the end, so only the last `width` columns read predict them: the
    # vocabulary projection, a good share of the step, runs on those alone. They are passed as
    # indices, not as a count: a count slices the hidden states with a stride, and on CPU the
    # projection of a strided input runs as a batched product over a broadcast weight, about three
    # times slower than the plain matrix product an indexed (contiguous) copy gets.
    width = max(int((batch.labels != IGNORE).sum(-1).max()), 1)
    predicting = torch.arange(end - start - width, end - start, device=batch.embeds.device)
    logits = model(inputs_embeds=batch.embeds[:, start:end], attention_mask=batch.attention_mask[:, :end],
                   position_ids=batch.position_ids[:, start:end], logits_to_keep=predicting,
                   # A copy: the forward extends the cache it is given, and `before` serves every step.
                   # Without one, no cache at all: a training forward must not build one, whatever
                   # model.config says.
                   past_key_values=None if before is None else copy.deepcopy(before),
                   use_cache=before is not None).logits
    return F.cross_entropy(logits.flatten(0, 1).float(), batch.labels[:, -width:].flatten(), ignore_index=IGNORE)


@contextmanager
def frozen(model):
    """Only the attack is trained: freeze every weight, restoring the flags after (the model may be shared)."""
    flags = [parameter.requires_grad for parameter in model.parameters()]
    was_training = model.training
    model.requires_grad_(False).eval()
    try:
        yield model
    finally:
        for parameter, flag in zip(model.parameters(), flags):
            parameter.requires_grad_(flag)
        model.train(was_training)


def init_token_ids(tokenizer, text: str, count: int) -> list[int]:
    """`text`'s tokens, repeated or cut to `count`."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"soft_embed.init_text={text!r} has no tokens; set it to a short neutral text "
                        f"(the attack vectors start as its embeddings).")
    return (ids * math.ceil(count / len(ids)))[:count]


def initial_attack(model, tokenizer, settings, restart: int, generator: torch.Generator) -> torch.Tensor:
    """Restart 0: exactly the embeddings of init_text (the model reads real words); later restarts: plus noise."""
    weight = model.get_input_embeddings().weight.detach()
    ids = torch.tensor(init_token_ids(tokenizer, settings.init_text, settings.num_tokens), device=weight.device)
    start = weight[ids].float().cpu()  # float32 even for bf16 models: Adam needs the precision
    if restart > 0:
        start = start + torch.randn(start.shape, generator=generator) * RESTART_NOISE * weight.float().std().item()
    return start.to(weight.device)


@torch.no_grad()
def pull_toward(attack: torch.Tensor, start: torch.Tensor, share: float) -> None:
    """Move the vectors `share` (at most all) of the way back to their start. Adam moves every
    coordinate by about lr per step whatever the gradient's size, so vectors trained toward the
    opener alone drift several embedding standard deviations from real-token space and change the
    answer after the opener too; a pull in proportion to the step's lr keeps them near words."""
    attack.lerp_(start, min(1.0, share))


def train_attack(model, items: list[AttackItem], targets: list[list[int]], start: torch.Tensor, settings,
                 max_steps: int, generator: torch.Generator, progress=None) -> TrainedAttack:
    """Adam on the vectors (each step followed by settings.anchor's pull toward `start`) until a
    pass over the questions ends below settings.loss_threshold, or max_steps updates. The pass
    that reaches the threshold makes no update after its last batch; once the cap is reached one
    more pass measures the final vectors, so the last loss is theirs."""
    attack = torch.nn.Parameter(start.clone())
    optimizer = torch.optim.Adam([attack], lr=settings.lr, weight_decay=settings.weight_decay)
    schedule = LambdaLR(optimizer, lambda step: 1 - step / max_steps) if max_steps else None
    order = torch.randperm(len(items), generator=generator).tolist()
    batches = [order[s:s + settings.batch_size] for s in range(0, len(order), settings.batch_size)]  # nothing dropped
    steps, losses = 0, []
    with frozen(model):
        befores = [read_before_attack(model, build_batch(model, attack.detach(), [items[i] for i in rows]))
                   for rows in batches]
        while True:
            pass_losses, stepped = [], False
            for index, (rows, before) in enumerate(zip(batches, befores)):
                with torch.set_grad_enabled(steps < max_steps):
                    batch = build_batch(model, attack, [items[i] for i in rows], [targets[i] for i in rows])
                    loss = target_loss(model, batch, before)
                pass_losses.append(loss.item())
                reached = index == len(batches) - 1 and np.mean(pass_losses) < settings.loss_threshold
                if steps < max_steps and not reached:
                    optimizer.zero_grad()
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_([attack], GRAD_CLIP)
                    step_lr = optimizer.param_groups[0]["lr"]
                    optimizer.step()
                    schedule.step()
                    if settings.anchor:
                        pull_toward(attack, start, step_lr * settings.anchor)
                    steps, stepped = steps + 1, True
                    if progress is not None:
                        progress.update(1)
            losses.append(float(np.mean(pass_losses)))
            if losses[-1] < settings.loss_threshold or not stepped:
                break
    return TrainedAttack(attack.detach(), losses, steps, losses[-1] < settings.loss_threshold)


class Answerer:
    """Greedy answers to fixed questions, with an attack in place (no_attack for none) and
    optionally an opener forced at the start of each answer. The part before the attack is the
    same in every pass, so it is read once per batch and each pass runs only from the attack on."""

    def __init__(self, model, tokenizer, items: list[AttackItem], max_new_tokens: int, batch_size: int):
        self.model, self.tokenizer, self.items = model, tokenizer, items
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        self.stops = stop_ids(model, tokenizer)
        self.befores = None  # read on the first pass

    def _batches(self) -> range:
        return range(0, len(self.items), self.batch_size)

    @torch.no_grad()
    def tokens(self, attack: torch.Tensor, forced: list[list[int]] | None = None) -> list[list[int]]:
        """Each answer's tokens after the prompt (after its forced opener, if any)."""
        forced = forced or [[] for _ in self.items]
        if self.befores is None:
            self.befores = [read_before_attack(self.model, build_batch(self.model, attack, self.items[s:s + self.batch_size]))
                            for s in self._batches()]
        generated = []
        for start, before in zip(self._batches(), self.befores):
            end = start + self.batch_size
            batch = build_batch(self.model, attack, self.items[start:end], forced=forced[start:end])
            output = forward_after_attack_start(self.model, batch, before, logits_to_keep=1)  # the next token's only
            generated += continue_greedily(self.model, output, batch.attention_mask, batch.position_ids[:, -1:],
                                           self.max_new_tokens, self.stops)
        return generated

    def answers(self, attack: torch.Tensor, forced: list[list[int]] | None = None) -> list[str]:
        """The answers as text; a forced opener is part of its answer, as a generated one would be."""
        forced = forced or [[] for _ in self.items]
        return [self.tokenizer.decode(opener + answer, skip_special_tokens=True).strip()
                for opener, answer in zip(forced, self.tokens(attack, forced))]

