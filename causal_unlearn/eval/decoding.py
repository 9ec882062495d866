"""Forward passes over token sequences that share a prefix, and greedy decoding from a KV cache.

Every evaluation question follows the same chat header (and system prompt), every many-shot
jailbreak question the same shots, every edited text of the teacher the same prompt head. That
shared prefix is read once into a KV cache (`read_prefix`), a fresh copy of it serves each batch
(`repeat_cache`), and each sequence costs only its own tokens (`pack_after_prefix`,
`forward_after_prefix`). The one padding rule: a row is [shared prefix][own tokens], padding
masked, positions counted over real tokens only, so a row reads exactly what it would read alone.
Rows that go on generating are padded on the left (all end in the same column); rows that are
only scored are padded on the right (own token t sits in column t).

`continue_greedily` runs the token loop after a first forward pass (the soft-embedding attack
feeds embeddings, the others token ids); `generate_answers` answers prompts greedily, batched,
the same answers `model.generate` gives one prompt at a time (the tests check it).
"""

import copy
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from causal_unlearn.eval.kv_cache import make_growing

# Padding is masked and never predicted, so its id does not matter; 0 exists in every vocabulary.
PAD_ID = 0


def stop_ids(model, tokenizer) -> set[int]:
    """Token ids that end an answer: the tokenizer's end of sequence and the model's configured ones."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


def common_prefix_length(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for index in range(shortest):
        if any(s[index] != sequences[0][index] for s in sequences):
            return index
    return shortest


def repeat_cache(prefix, rows: int):
    """A fresh copy of a one-row prefix cache for a batch of `rows` (None stays None): the forward
    pass extends the cache it is given, so the prefix itself must stay untouched."""
    if prefix is None:
        return None
    cache = copy.deepcopy(prefix)
    cache.batch_repeat_interleave(rows)
    return cache


@torch.no_grad()
def read_prefix(decoder, prefix: list[int], device):
    """The KV cache of one forward pass over `prefix` (None for an empty prefix)."""
    if not prefix:
        return None
    return decoder(input_ids=torch.tensor([list(prefix)], device=device), use_cache=True).past_key_values


@dataclass
class PrefixBatch:
    """Sequences cut after a shared prefix of `shared` tokens, padded into one batch."""

    input_ids: torch.Tensor       # (rows, width): each row's own tokens, padded
    attention_mask: torch.Tensor  # (rows, shared + width): the prefix, then the own tokens
    position_ids: torch.Tensor    # (rows, width): real tokens counted on from the prefix
    starts: list[int]             # column of each row's first own token (0 when padded on the right)


def pack_after_prefix(sequences: list[list[int]], shared: int, pad_left: bool) -> PrefixBatch:
    """Each sequence's tokens after the first `shared`, padded on the left or the right."""
    own = [list(seq[shared:]) for seq in sequences]
    width = max(len(ids) for ids in own)
    ids = torch.full((len(own), width), PAD_ID, dtype=torch.long)
    own_mask = torch.zeros((len(own), width), dtype=torch.long)
    starts = []
    for row, tokens in enumerate(own):
        start = width - len(tokens) if pad_left else 0
        ids[row, start:start + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        own_mask[row, start:start + len(tokens)] = 1
        starts.append(start)
    mask = torch.cat([torch.ones((len(own), shared), dtype=torch.long), own_mask], dim=1)
    positions = (shared + own_mask.cumsum(-1) - 1).clamp(min=shared)
    return PrefixBatch(ids, mask, positions, starts)


def forward_after_prefix(module, batch: PrefixBatch, prefix_cache, device, **kwargs):
    """`module` (a causal LM or its decoder) over the batch's own tokens, reading a copy of the prefix cache."""
    return module(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device),
                  position_ids=batch.position_ids.to(device),
                  past_key_values=repeat_cache(prefix_cache, len(batch.starts)), **kwargs)


@torch.no_grad()
def continue_greedily(model, output, mask: torch.Tensor, last_positions: torch.Tensor, max_new_tokens: int,
                      stops: set[int]) -> list[list[int]]:
    """Greedy tokens after `output` (a forward pass with use_cache=True), each row cut before its first stop.

    The cache grows in place (kv_cache.GrowingLayer), and rows that have stopped leave the batch
    once they are a quarter of it, so a long answer does not keep the finished ones computing."""
    embedding = model.get_input_embeddings()
    stop_tensor = torch.tensor(sorted(stops), device=mask.device)
    cache = make_growing(output.past_key_values)
    generated = [[] for _ in range(len(mask))]
    active = torch.arange(len(mask), device=mask.device)  # original row of each batch row
    done = torch.zeros(len(mask), dtype=torch.bool, device=mask.device)
    logits, positions = output.logits[:, -1], last_positions
    for step in range(max_new_tokens):
        token = logits.argmax(-1)
        for row, value in zip(active.tolist(), token.tolist()):
            generated[row].append(value)
        done |= torch.isin(token, stop_tensor)
        if done.all() or step + 1 == max_new_tokens:
            break
        if 4 * int(done.sum()) >= len(active):
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            active, token, mask, positions, done = active[keep], token[keep], mask[keep], positions[keep], done[keep]
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        positions = positions + 1
        logits = model(inputs_embeds=embedding(token)[:, None], attention_mask=mask, position_ids=positions,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1]
    return [row[: next((i for i, t in enumerate(row) if t in stops), len(row))] for row in generated]


def answer_budget(max_new_tokens: int, max_length: int | None, padded_prompt_length: int) -> int:
    """New tokens a batch may generate. With `max_length` (the original's generation cap) the
    prompt, padded to the batch's longest, and the answer together fit in max_length tokens, as
    in the original's `generate(max_length=...)`; like it, a prompt already that long still gets
    one token."""
    if max_length is None:
        return max_new_tokens
    return min(max_new_tokens, max(1, max_length - padded_prompt_length))


@torch.no_grad()
def generate_answers(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int,
                     max_length: int | None = None) -> list[str]:
    """Greedy answers to `prompts`, batched, reading the token prefix they all share only once;
    `max_length` also caps each batch's prompt + answer tokens (answer_budget)."""
    encoded = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    shared = min(common_prefix_length(encoded), min(len(ids) for ids in encoded) - 1)  # every row keeps a token
    device = model.get_input_embeddings().weight.device
    prefix_cache = read_prefix(model.get_decoder(), encoded[0][:shared], device)
    stops = stop_ids(model, tokenizer)
    answers = []
    for start in tqdm(range(0, len(encoded), batch_size), desc="generate", leave=False):
        batch = pack_after_prefix(encoded[start:start + batch_size], shared, pad_left=True)
        # Rows are padded on the left, so every row's next token is read from the last column.
        output = forward_after_prefix(model, batch, prefix_cache, device, use_cache=True, logits_to_keep=1)
        mask, positions = batch.attention_mask.to(device), batch.position_ids.to(device)
        budget = answer_budget(max_new_tokens, max_length, mask.shape[1])
        for tokens in continue_greedily(model, output, mask, positions[:, -1:], budget, stops):
            answers.append(tokenizer.decode(tokens, skip_special_tokens=True).strip())
    return answers
