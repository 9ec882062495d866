"""Helpers shared by the tests (imported as `helpers`: pytest.ini puts tests/ on sys.path).

- paths: REPO, SHARED_DATA;
- running the entry points and pipelines as a user would: run_cli, run_wpu, run_tofu;
- reference decoding and a position-sensitive model: talkative, generate_alone;
- teacher rows shaped like a language model's: model_like_rows;
- kill and resume (tests/reliability/): start a CLI, SIGKILL it at a sign of progress, and check
  that what it left behind is either complete or absent.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


# --- entry points ------------------------------------------------------------------------------

def run_cli(*args, cwd=REPO, env=None):
    """Run a project entry point in a subprocess, as a user would."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=merged, capture_output=True, text=True, timeout=900)


# The WPU pipeline on the tiny model, every budget at its smallest.
WPU_TINY = ["model_family=tiny-random", "num_epochs=1", "max_length=64", "eval.ds_size=2",
            "eval.generation.max_new_tokens=4", "msj.max_new_tokens=4", "msj.max_prompt_tokens=400",
            "soft_embed.epochs=1", "soft_embed.restarts=1", "soft_embed.max_new_tokens=4", "soft_embed.batch_size=2"]
# The TOFU pipeline's overrides for the tiny model.
TOFU_TINY = ["model_family=tiny-random", "eval.ds_size=2", "eval.generation.max_new_tokens=4", "eval.batch_size=4"]


def run_wpu(root, method, *extra):
    """scripts/wpu.sh on forget_2_1 (forget_2_2 as Other Persons) with the tiny model."""
    # The random model answers nothing correctly, so it cannot build its own MSJ shot pool.
    shots = root / "shots.json"
    shots.write_text(json.dumps([{"question": f"What is {n} plus {n}?", "answer": str(2 * n)} for n in range(6)]))
    command = ["bash", "scripts/wpu.sh", "-c", "forget_mini.yaml", "-f", method, "-s", str(root), "-p", "forget_2_1",
               "-o", "forget_2_2", "-n", "2", "-g", "", "--", *WPU_TINY, f"msj.shots_file={shots}", *extra]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})


def tiny_retain_result(folder, tofu_dir) -> Path:
    """The tiny model evaluated on TOFU's forget01 tasks, as a retain model's result (Forget Quality's reference)."""
    evaluated = run_cli("evaluate_util.py", "--config-name=eval_everything.yaml", "model_family=tiny-random",
                        f"data_path={tofu_dir}", "split=forget01", f"save_dir={folder}", "ds_size=2",
                        "generation.max_new_tokens=4", "batch_size=4")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    return Path(folder) / "eval_log_aggregated.json"


def run_tofu(*args):
    """scripts/tofu.sh with the given flags and overrides."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(["bash", str(REPO / "scripts" / "tofu.sh"), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


# --- models and decoding -----------------------------------------------------------------------

def talkative(tiny_model):
    """A copy of tiny-random with large random untied weights: tiny-random itself echoes its last
    token forever, this one says different things and depends on every position."""
    from transformers import AutoModelForCausalLM

    config = tiny_model.config.__class__.from_dict({**tiny_model.config.to_dict(), "initializer_range": 0.5,
                                                    "tie_word_embeddings": False})
    torch.manual_seed(1)
    return AutoModelForCausalLM.from_config(config).eval()


def generate_alone(model, tokenizer, prompt: str, max_new_tokens: int) -> str:
    """The library's own greedy decoding of one prompt: the reference for the batched paths."""
    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        output = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, ids.shape[1]:], skip_special_tokens=True).strip()


def model_like_rows(seed: int, count: int = 24, vocab: int = 500):
    """Distributions from very peaked to nearly flat, like a language model's."""
    generator = torch.Generator().manual_seed(seed)
    temperatures = torch.logspace(-1, 1, count)[:, None]
    logits = torch.randn(count, vocab, generator=generator) * 4 / temperatures
    return torch.softmax(logits, -1)


# --- kill and resume (tests/reliability/) ------------------------------------------------------

# The tiny settings of tests/e2e/test_forget_cli.py and tests/e2e/test_wpu_pipeline.py. forget_2_1
# has 2 documents and docs_per_step is 2, so num_epochs=4 gives 4 optimizer steps; save_steps=2
# writes checkpoint-2 and checkpoint-4.
TINY = ["model_family=tiny-random", "teacher.N=2", "num_epochs=4", "lr=1e-3", "max_length=128", "save_steps=2",
        "save_total_limit=null", "eval.ds_size=2", "eval.generation.max_new_tokens=4"]
RUN = Path("tiny-random") / "intervention" / "2_42_forget_2_1"
ARTIFACT = Path("tiny-random") / "intervention" / "forget_2_1_2_True_True.teacher.safetensors"
CLI_TIMEOUT = 600


_REFERENCE: dict[str, Path] = {}


def reference_teacher(tmp_path_factory) -> Path:
    """An output root holding the teacher artifact of an uninterrupted teacher.py run with TINY;
    built once per session and shared by the test modules."""
    if "teacher" not in _REFERENCE:
        root = tmp_path_factory.mktemp("reference")
        run_to_end(root / "logs", "teacher.py", *TINY, f"save_dir_root={root}")
        _REFERENCE["teacher"] = root
    return _REFERENCE["teacher"]


def reference_run(tmp_path_factory) -> Path:
    """reference_teacher's root after an uninterrupted forget.py run with its in-process evaluation."""
    root = reference_teacher(tmp_path_factory)
    if "run" not in _REFERENCE:
        run_to_end(root / "logs", "forget.py", *TINY, f"save_dir_root={root}")
        _REFERENCE["run"] = root
    return root


def start(log_dir: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """Start `python *args` with stdout + stderr unbuffered into one log file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{Path(args[0]).stem}-{time.monotonic_ns()}.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=handle, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return process, log


def kill_when(process: subprocess.Popen, log: Path, ready, what: str, timeout: float = CLI_TIMEOUT) -> None:
    """SIGKILL `process` as soon as `ready()` is true (polled every 5 ms)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise AssertionError(f"the run ended (rc {process.returncode}) before {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, f"the run was not killed (rc {process.returncode}) at {what}"


def log_contains(log: Path, text: str):
    return lambda: text in log.read_text(errors="replace")


def run_to_end(log_dir: Path, *args: str) -> str:
    process, log = start(log_dir, *args)
    try:
        process.wait(timeout=CLI_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text(errors="replace")
    assert process.returncode == 0, f"{' '.join(args[:1])} failed (rc {process.returncode}):\n{output[-4000:]}"
    return output


def incomplete_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint folders without a readable trainer_state.json, the file the Trainer writes last."""
    found = []
    for checkpoint in folder.rglob("checkpoint-*"):
        state = checkpoint / "trainer_state.json"
        try:
            json.loads(state.read_text())
        except (OSError, ValueError):
            found.append(checkpoint)
    return found


def assert_outputs_complete_or_absent(root: Path, allow_incomplete_checkpoints: bool = False) -> None:
    """Every *.json and *.csv under root parses.

    The project writes its own files atomically (temp file + rename). The Hugging Face Trainer
    writes a checkpoint's files in place, so a kill while it saves can leave a partial file in
    that checkpoint; such a checkpoint has no trainer_state.json yet (written last), and
    forget.py removes it before resuming. Right after a kill, `allow_incomplete_checkpoints`
    exempts those folders; after a finished run, none may remain.
    """
    incomplete = incomplete_checkpoints(root)
    if not allow_incomplete_checkpoints:
        assert not incomplete, f"incomplete checkpoints left behind: {incomplete}"
    for path in sorted([*root.rglob("*.json"), *root.rglob("*.csv")]):
        if any(folder in path.parents for folder in incomplete):
            continue
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        else:
            assert not pd.read_csv(path).empty, f"{path} has no rows"


def assert_same_csv(got: Path, expected: Path) -> None:
    """Same columns, same values (pandas, rtol 1e-6). On CPU a resumed run restores float32
    weights, optimizer, scheduler and RNG state from its checkpoint, and the files come out
    byte-identical to the uninterrupted run's; the tolerance only spares the test from float
    formatting, so any real difference (data order, a lost step) still fails."""
    left, right = pd.read_csv(got), pd.read_csv(expected)
    assert list(left.columns) == list(right.columns)
    pd.testing.assert_frame_equal(left, right, check_exact=False, rtol=1e-6, atol=0)


def assert_same_training(run: Path, reference: Path) -> None:
    """Same per-step losses and bit-identical final weights as the uninterrupted run."""
    from safetensors.torch import load_file

    losses = json.loads((run / "forget_done.json").read_text())["losses"]
    expected = json.loads((reference / "forget_done.json").read_text())["losses"]
    assert losses == pytest.approx(expected, rel=1e-6)
    got, want = load_file(run / "model.safetensors"), load_file(reference / "model.safetensors")
    assert got.keys() == want.keys() and all(torch.equal(got[name], want[name]) for name in want)
