"""Benchmark: peak memory of the forget stage next to what it has to hold.

The stage is the CPU TOFU recipe's (scripts/tofu_cpu.sh): SmolLM2-135M on TOFU forget01, 20 forget QA
pairs per step, plus 20 retain QA pairs for grad_diff (retain_strength 1), two optimizer steps (the
second backward runs with AdamW's moments allocated, where the peak is). Each configuration runs in its
own process: intervention and grad_diff, with gradient checkpointing off and on. The base weights stand
in for the recipe's fine-tuned target (the memory does not depend on the weights, except through how
many teacher tokens a flatter base row keeps: more, so intervention's figure is an upper bound).

Next to each peak, the arithmetic at that batch:
- process before training: the resident set when training starts (interpreter, torch, the model's
  weights, tokenizer, data, teacher rows), measured;
- model states added by training: gradients and AdamW's two moments, 12 bytes per parameter;
- activations kept for the backward: per token and layer, the tensors a Llama layer saves
  (9 x hidden + 2 x key/value width + 4 x MLP width floats), or with checkpointing only each layer's
  input plus one layer's worth during its recomputation;
- logits: the positions a loss reads x vocabulary x 4 bytes, three times (logits, log-softmax, its
  gradient).

    .venv/bin/python bench/memory.py [--data ../shared/data/tofu] [--out bench/sections/memory.md]
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

METHODS = ("intervention", "grad_diff")
BATCH = 20
AUTHORS = REPO.parent / "shared" / "data" / "reference" / "tofu_author.txt"


def forget_args(method: str, data: Path, work: Path, checkpointing: bool) -> list[str]:
    return ["--config-name=forget_tofu.yaml", "model_family=smollm2-135m", "model_path=null", f"data_path={data}",
            "split=forget01", f"forget_loss={method}", "teacher.N=1", f"teacher.authors_file={AUTHORS}",
            "num_epochs=1", f"batch_size={BATCH}", "lr=1e-4", "retain_split=retain_slice",
            f"retain_strength={1 if method == 'grad_diff' else 0}", "gradient_accumulation_steps=1",
            f"gradient_checkpointing={str(checkpointing).lower()}", f"save_dir_root={work}",
            f"save_dir={work / method / ('checkpointing' if checkpointing else 'plain')}"]


def write_data(source: Path, folder: Path, k: int = 20) -> None:
    """TOFU's files plus the recipe's retain slice (scripts/tofu_cpu.sh, build_data)."""
    from causal_unlearn.core.data import load_split

    folder.mkdir(parents=True, exist_ok=True)
    for file in source.glob("*.json"):
        (folder / file.name).symlink_to(file.resolve())
    retain = load_split(str(source), "retain99")
    evaluated = {row["question"] for row in load_split(str(source), "retain_perturbed")}
    pool = [row for row in retain if row["question"] not in evaluated]
    (folder / "retain_slice.json").write_text("".join(json.dumps(row) + "\n" for row in retain[:k] + pool[:k]))


def run_one(args: list[str], out: Path) -> None:
    """In this process: forget.py with `args`, recording the resident set when training starts and the peak."""
    import psutil
    from transformers import TrainerCallback

    from causal_unlearn.unlearn import run as forget_run

    class AtTrainBegin(TrainerCallback):
        def on_train_begin(self, *_, **__):
            self.started = time.monotonic()
            out.write_text(json.dumps({"before_training_mb": psutil.Process().memory_info().rss / 2**20}))

        def on_train_end(self, *_, **__):
            out.write_text(json.dumps({**json.loads(out.read_text()), "train_seconds": time.monotonic() - self.started}))

    class Trainer(forget_run.UnlearnTrainer):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            self.add_callback(AtTrainBegin())

    forget_run.UnlearnTrainer = Trainer
    sys.argv = ["forget.py", *args]
    os.chdir(REPO)
    import runpy

    try:
        runpy.run_path(str(REPO / "forget.py"), run_name="__main__")
    except SystemExit as stop:
        if stop.code:
            raise
    record = json.loads(out.read_text())
    record["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps(record))


def batch_shape(data: Path) -> dict:
    """Tokens per padded batch and positions a loss reads, averaged over the recipe's forget batches."""
    from causal_unlearn.core.data import encode_with_labels, load_split
    from causal_unlearn.core.models import load_family, load_tokenizer
    from causal_unlearn.core.prompts import render_chat

    family = load_family("smollm2-135m")
    tokenizer = load_tokenizer(family, None)
    chats = [render_chat(family, tokenizer, [(row["question"], row["answer"])]) for row in load_split(str(data), "forget01")]
    encoded = [encode_with_labels(tokenizer, chat.text, chat.answer_spans, 256) for chat in chats]
    batches = [encoded[i:i + BATCH] for i in range(0, len(encoded), BATCH)]
    tokens = sum(len(b) * max(len(item["input_ids"]) for item in b) for b in batches) / len(batches)
    labelled = sum(sum(1 for label in item["labels"][1:] if label != -100) for b in batches for item in b) / len(batches)
    return {"tokens": tokens, "labelled": labelled}


def arithmetic(shape: dict, method: str, checkpointing: bool) -> dict:
    from transformers import AutoConfig

    from causal_unlearn.core.models import load_family, model_dir

    config = AutoConfig.from_pretrained(model_dir(load_family("smollm2-135m")))
    hidden, layers, mlp, vocab = config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size
    kv = hidden * config.num_key_value_heads // config.num_attention_heads
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):  # the parameter count without allocating the weights
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_config(config).parameters())
    passes = 2 if method == "grad_diff" else 1  # forget and retain batches, both graphs alive until backward
    per_layer_token = 4 * (9 * hidden + 2 * kv + 4 * mlp)
    tokens = shape["tokens"] * passes
    activations = (layers * tokens * 4 * hidden + tokens / passes * per_layer_token) if checkpointing \
        else layers * tokens * per_layer_token
    return {"states_mb": 12 * parameters / 2**20, "activations_mb": activations / 2**20,
            "logits_mb": 3 * shape["labelled"] * passes * vocab * 4 / 2**20}


def measure(data_source: Path) -> list[dict]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work, data = Path(tmp), Path(tmp) / "data"
        write_data(data_source, data)
        shape = batch_shape(data)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
        teacher = subprocess.run([sys.executable, str(REPO / "teacher.py"),
                                  *forget_args("intervention", data, work, False)], cwd=REPO, env=env, capture_output=True, text=True)
        if teacher.returncode:
            raise SystemExit(f"teacher.py failed:\n{teacher.stderr[-2000:]}")
        for method in METHODS:
            for checkpointing in (False, True):
                out = work / f"{method}-{checkpointing}.json"
                done = subprocess.run([sys.executable, __file__, "--one", str(out), "--",
                                       *forget_args(method, data, work, checkpointing)], cwd=REPO, env=env,
                                      capture_output=True, text=True)
                if done.returncode:
                    raise SystemExit(f"forget.py ({method}) failed:\n{done.stderr[-2000:]}")
                record = json.loads(out.read_text())
                results.append({"method": method, "checkpointing": checkpointing, **record, **shape,
                                **arithmetic(shape, method, checkpointing)})
                print(json.dumps(results[-1]), flush=True)
    return results


def write_report(results: list[dict], out: Path) -> None:
    first = results[0]
    lines = ["## Memory of the forget stage", "",
             f"The CPU TOFU recipe's forget stage (SmolLM2-135M, forget01, batch {BATCH} forget QA; grad_diff adds "
             f"{BATCH} retain QA), base weights, 2 optimizer steps, each configuration in its own process. A forget "
             f"batch pads to {first['tokens']:.0f} tokens, of which {first['labelled']:.0f} positions predict an answer "
             "token (the only ones whose logits are computed). Arithmetic (bench/memory.py): gradients + AdamW "
             "moments 12 B/parameter; activations saved for the backward; logits 3 copies at the positions read.", "",
             "| method | checkpointing | training s | peak RSS MB | before training MB | + states MB | + activations MB "
             "| + logits MB | sum MB | peak / sum |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        total = r["before_training_mb"] + r["states_mb"] + r["activations_mb"] + r["logits_mb"]
        lines.append(f"| {r['method']} | {'on' if r['checkpointing'] else 'off'} | {r['train_seconds']:.0f} | {r['peak_mb']:.0f} | "
                     f"{r['before_training_mb']:.0f} | {r['states_mb']:.0f} | {r['activations_mb']:.0f} | "
                     f"{r['logits_mb']:.0f} | {total:.0f} | {r['peak_mb'] / total:.2f} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(results, indent=1))


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--one":
        run_one(sys.argv[4:], Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "tofu")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "memory.md")
    args = parser.parse_args()
    if not (args.data / "forget01.json").is_file() or not AUTHORS.is_file():
        print(f"skipped: TOFU's json files ({args.data}) or the author list ({AUTHORS}) are not there")
        return
    write_report(measure(args.data), args.out)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
