"""Greedy decoding from a KV cache, shared by the evaluation and the attacks.

`continue_greedily` runs the token loop after a first forward pass over prompts that end in the
same column (the soft-embedding attack feeds embeddings, MSJ token ids). `shared_prefix_answers`
answers prompts that begin with the same text: every evaluation question follows the same chat
header (and system prompt), every many-shot jailbreak question the same shots. That prefix is read
once into a cache that every batch reuses (`repeat_cache`), and each question costs only its own
tokens. Rows are laid out [shared prefix][padding][own tokens], the padding masked, positions
counted over real tokens only, so a row reads exactly what it would read alone.
"""

import copy

import torch
from tqdm.auto import tqdm


def stop_ids(model, tokenizer) -> set[int]:
    """Token ids that end an answer: the tokenizer's end of sequence and the model's configured ones."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {i for i in ids if i is not None}


@torch.no_grad()
def continue_greedily(model, output, mask: torch.Tensor, last_positions: torch.Tensor, max_new_tokens: int,
                      stops: set[int]) -> list[list[int]]:
    """Greedy tokens after `output` (a forward pass with use_cache=True), each row cut before its first stop."""
    embedding = model.get_input_embeddings()
    stop_tensor = torch.tensor(sorted(stops), device=mask.device)
    generated = []
    done = torch.zeros(len(mask), dtype=torch.bool, device=mask.device)
    positions = last_positions
    for step in range(max_new_tokens):
        token = output.logits[:, -1].argmax(-1)
        generated.append(token)
        done |= torch.isin(token, stop_tensor)
        if done.all() or step + 1 == max_new_tokens:
            break
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], dim=1)
        positions = positions + 1
        output = model(inputs_embeds=embedding(token)[:, None], attention_mask=mask, position_ids=positions,
                       past_key_values=output.past_key_values, use_cache=True)
    rows = torch.stack(generated, dim=1).tolist()
    return [row[: next((i for i, t in enumerate(row) if t in stops), len(row))] for row in rows]


def repeat_cache(prefix, rows: int):
    """A fresh copy of a one-row prefix cache for a batch of `rows` (None stays None): the forward
    pass extends the cache it is given, so the prefix itself must stay untouched."""
    if prefix is None:
        return None
    cache = copy.deepcopy(prefix)
    cache.batch_repeat_interleave(rows)
    return cache


def common_prefix_length(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    for index in range(shortest):
        if any(s[index] != sequences[0][index] for s in sequences):
            return index
    return shortest


@torch.no_grad()
def shared_prefix_answers(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int) -> list[str]:
    """Greedy answers to `prompts`, reading the token prefix they all share only once."""
    encoded = [tokenizer(prompt, add_special_tokens=False)["input_ids"] for prompt in prompts]
    shared = min(common_prefix_length(encoded), min(len(ids) for ids in encoded) - 1)  # every row keeps a token
    device = model.get_input_embeddings().weight.device
    prefix_cache = None
    if shared > 0:
        prefix_cache = model(input_ids=torch.tensor([encoded[0][:shared]], device=device), use_cache=True).past_key_values
    stops = stop_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    answers = []
    for start in tqdm(range(0, len(encoded), batch_size), desc="generate", leave=False):
        own = [ids[shared:] for ids in encoded[start:start + batch_size]]
        width = max(len(ids) for ids in own)
        ids = torch.full((len(own), width), pad, dtype=torch.long)
        own_mask = torch.zeros((len(own), width), dtype=torch.long)
        for row, tokens in enumerate(own):
            ids[row, width - len(tokens):] = torch.tensor(tokens)
            own_mask[row, width - len(tokens):] = 1
        mask = torch.cat([torch.ones((len(own), shared), dtype=torch.long), own_mask], dim=1).to(device)
        positions = (shared + own_mask.cumsum(-1) - 1).clamp(min=shared).to(device)
        output = model(input_ids=ids.to(device), attention_mask=mask, position_ids=positions,
                       past_key_values=repeat_cache(prefix_cache, len(own)), use_cache=True)
        for tokens in continue_greedily(model, output, mask, positions[:, -1:], max_new_tokens, stops):
            answers.append(tokenizer.decode(tokens, skip_special_tokens=True).strip())
    return answers
