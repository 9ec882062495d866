"""Random-weight models built from a config, for throughput checks that need no real weights.

    python bench/gpu_models.py --source DIR --out DIR [--shape 135m|1.7b]

--source is a folder with config.json and the tokenizer files of SmolLM2-135M-Instruct (the
embedded model's folder has them). The output folder gets the same tokenizer, the config (resized
to SmolLM2-1.7B's shape for 1.7b) and random bf16 weights, so every stage loads it like any
model folder (`model_path=DIR`). Speed and memory depend on the shape, not on the values, with
one exception: freshly initialised logits are nearly uniform (about 10.7 nats), which would make
every teacher row keep the compact format's cap of tokens. So the final norm is scaled until the
next-token entropy on the embedded world's text is a trained model's (TARGET_ENTROPY).
"""

import argparse
import json
import logging
import shutil
from pathlib import Path

logger = logging.getLogger("bench.gpu_models")
REPO = Path(__file__).resolve().parents[1]
TARGET_ENTROPY = 2.5  # nats per token: about what a small trained LM has on encyclopedic prose

# SmolLM2-1.7B: same vocabulary, tokenizer and head size as the 135M model, 1.7B parameters.
SHAPES = {
    "135m": {},
    "1.7b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
             "num_attention_heads": 32, "num_key_value_heads": 32, "head_dim": 64},
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json",
                   "special_tokens_map.json")


def build(source: Path, out: Path, shape: str) -> int:
    """Write a random-weight model of `shape` to `out`; returns its parameter count."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(source)
    for key, value in SHAPES[shape].items():
        setattr(config, key, value)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):  # initialising 1.7B on a CPU is slow
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    calibrate_entropy(model, AutoTokenizer.from_pretrained(source))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, out / name)
    return sum(p.numel() for p in model.parameters())


def calibrate_entropy(model, tokenizer, target: float = TARGET_ENTROPY) -> float:
    """Scale the final norm's weight (bisection on a log scale) until the mean next-token entropy
    on 256 tokens of the embedded world's text is `target`; returns the scale."""
    import torch

    text = json.loads((REPO / "data/wpu_mini/implant_documents.json").read_text().splitlines()[0])["text"]
    ids = tokenizer(text, return_tensors="pt").input_ids[:, :256].to(model.device)
    norm = model.get_decoder().norm.weight
    original, low, high = norm.detach().clone(), 0.0, 7.0  # log scale: 1x to about 1100x
    with torch.no_grad():
        for _ in range(12):
            scale = float(torch.tensor((low + high) / 2).exp())
            norm.copy_(original * scale)
            probs = torch.softmax(model(ids).logits[0].float(), -1)
            entropy = float(-(probs * probs.clamp_min(1e-30).log()).sum(-1).mean())
            low, high = ((low + high) / 2, high) if entropy > target else (low, (low + high) / 2)
    logger.info("final norm scaled %.1fx: next-token entropy %.2f nats", scale, entropy)
    return scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="135m")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logger.info("%s: %.2fB parameters in %s", args.shape, build(args.source, args.out, args.shape) / 1e9, args.out)


if __name__ == "__main__":
    main()
