"""GPU check: the pipeline's stages on CUDA (bf16, SDPA) at the embedded model's size and at 1.7B
parameters, DeepSpeed ZeRO-3 on one GPU, and the teacher and generation benchmarks on the GPU.

Both models get random weights built from SmolLM2's config (bench/gpu_models.py): speed and
memory depend on the shape, and nothing has to be downloaded. Each stage runs as the pipeline
runs it (its own process, the same scripts and Hydra config), timed, with the GPU's used memory
sampled ten times a second. Writes bench/sections/gpu.md and gpu.json; logs go to WORK/logs.

    python bench/gpu_check.py                        # needs CUDA; deepspeed for the ZeRO-3 stage
    python bench/gpu_check.py --source DIR           # config + tokenizer folder (default: the embedded SmolLM2)
    python bench/gpu_check.py --sentence-chunk -1    # whole-document chunks (the teacher then needs no spaCy)
"""

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

logger = logging.getLogger("bench.gpu_check")


class GpuMemory:
    """Peak used memory of GPU 0 (MiB) while a block runs, sampled in a thread: NVML when the
    nvidia-ml-py package is there, else nvidia-smi. The stages run in other processes, so the
    device's own counter is the one that sees them."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0.0, threading.Event()
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)
            self.read = lambda: pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20
        except Exception:  # no NVML bindings: ask the command-line tool
            self.read = self._nvidia_smi

    @staticmethod
    def _nvidia_smi() -> float:
        try:
            return float(subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits",
                                         "-i", "0"], capture_output=True, text=True, check=True).stdout.split()[0])
        except (OSError, subprocess.CalledProcessError, ValueError, IndexError):
            return 0.0  # no way to read the device: the table shows 0

    def __enter__(self):
        self.baseline = self.read()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.read())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def used_mb(self) -> float:
        return round(self.peak - self.baseline)


def run_stage(model: str, stage: str, command: list[str], logs: Path) -> dict:
    """Run one stage to its log file; wall time, peak GPU memory above the idle level, exit code."""
    log = logs / f"{model}_{stage.split()[0]}_{len(list(logs.iterdir()))}.log"
    logger.info("[gpu] %s: %s", model, stage)
    started = time.monotonic()
    with GpuMemory() as memory, log.open("w") as handle:
        code = subprocess.call(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO)
    record = {"model": model, "stage": stage, "seconds": round(time.monotonic() - started, 1),
              "peak_gpu_mb": memory.used_mb, "exit_code": code, "log": log.name}
    if code:
        record["error"] = log.read_text(errors="replace").strip().splitlines()[-1:]
    logger.info("[gpu] %s", json.dumps(record))
    return record


def hydra_args(model_dir: Path, label: str, work: Path, sentence_chunk: int, *extra: str) -> list[str]:
    return ["--config-name=forget_mini.yaml", "split=forget_2_1", "forget_loss=intervention", "teacher.N=10",
            f"sentence_chunk={sentence_chunk}", f"model_path={model_dir}", f"save_dir_root={work}/{label}",
            f"save_dir={work}/{label}/intervention", *extra]


def training_tokens_per_s(run_dir: Path) -> float | None:
    """Student tokens trained per second: every chunk of the artifact once per pass over the
    documents, over the Trainer's own wall time (forget_done.json)."""
    from causal_unlearn.teacher.artifact import load_artifact

    done, artifacts = run_dir / "forget_done.json", sorted(run_dir.parent.glob("**/*.teacher.safetensors"))
    if not done.is_file() or not artifacts:
        return None
    info = json.loads(done.read_text())
    tokens = sum(len(chunk.teacher.input_ids) for chunk in load_artifact(artifacts[0])[1])
    passes = info["max_steps"] * info["docs_per_step"] / info["n_docs"]
    return round(tokens * passes / info["train_seconds"], 1)


def pipeline(python: str, models: dict[str, Path], work: Path, sentence_chunk: int, logs: Path) -> list[dict]:
    small, large = models["135M"], models.get("1.7B")
    small_args = hydra_args(small, "small", work, sentence_chunk, "deepspeed=false")
    records = [run_stage("135M", "teacher N=10", [python, "teacher.py", *small_args], logs),
               run_stage("135M", "forget + evaluation", [python, "forget.py", *small_args], logs),
               # Random weights answer no question right, so the shot pool takes any answer.
               run_stage("135M", "many-shot jailbreak", [python, "msj_attack.py", *small_args, "msj.pool_min_rouge=0"], logs),
               run_stage("135M", "soft-embedding attack", [python, "soft_embed_attack.py", *small_args], logs)]
    records[1]["train_tokens_per_s"] = training_tokens_per_s(work / "small" / "intervention")
    if large:
        large_args = hydra_args(large, "large", work, sentence_chunk, "deepspeed=true")
        one_gpu = [python, "-m", "torch.distributed.run", "--nproc_per_node=1", "--master_port=29533"]
        records += [run_stage("1.7B", "teacher N=10", [python, "teacher.py", *large_args], logs),
                    run_stage("1.7B", "forget + evaluation, ZeRO-3", [*one_gpu, "forget.py", *large_args], logs)]
        records[-1]["train_tokens_per_s"] = training_tokens_per_s(work / "large" / "intervention")
    return records


def benchmarks(python: str, models: dict[str, Path], work: Path, logs: Path) -> tuple[list[dict], dict]:
    """The teacher benchmark (compact vs dense) and generation by batch size, on the GPU."""
    records, results = [], {}
    for model, grid in (("135M", ["--n", "1", "5", "20", "--lengths", "64", "256", "512"]),
                        ("1.7B", ["--n", "5", "20", "--lengths", "512"])):
        if model not in models:
            continue
        out = work / f"teacher_{model}.md"
        records.append(run_stage(model, "teacher benchmark", [python, "bench/teacher.py", "--in-process", "--no-kl", *grid,
                                                             "--model-path", str(models[model]), "--out", str(out)], logs))
        if out.with_suffix(".json").is_file():
            results[f"teacher_{model}"] = json.loads(out.with_suffix(".json").read_text())
        out = work / f"generation_{model}.md"
        records.append(run_stage(model, "generation benchmark", [
            python, "bench/eval_generation.py", "--model-path", str(models[model]), "--batch-sizes", "1", "16", "32",
            "--limit", "32", "--out", str(out)], logs))
        if out.with_suffix(".json").is_file():
            results[f"generation_{model}"] = json.loads(out.with_suffix(".json").read_text())
    return records, results


def describe() -> str:
    import importlib.metadata as md

    import torch

    versions = []
    for package in ("torch", "transformers", "accelerate", "deepspeed"):
        try:
            versions.append(f"{package} {md.version(package)}")
        except md.PackageNotFoundError:
            versions.append(f"{package} absent")
    memory = torch.cuda.get_device_properties(0).total_memory / 2**30
    return f"{torch.cuda.get_device_name(0)} ({memory:.0f} GiB), CUDA {torch.version.cuda}; {', '.join(versions)}"


def teacher_table():
    """bench/teacher.py's table text (loaded by path: `teacher` alone is the repo's teacher.py)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_teacher", Path(__file__).parent / "teacher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.report_text


def write_report(out: Path, machine: str, stages: list[dict], results: dict, sentence_chunk: int) -> None:
    lines = ["## GPU check", "",
             f"Machine: {machine}. bf16 weights, SDPA attention; random weights built from SmolLM2's config "
             f"(135M: the embedded model's shape; 1.7B: SmolLM2-1.7B's). forget_mini.yaml on forget_2_1, "
             f"intervention with N=10, sentence_chunk={sentence_chunk}. Peak GPU memory: the device's used memory "
             "above its idle level, sampled every 0.1 s.", "",
             "| model | stage | seconds | peak GPU MiB | train tokens/s | exit |", "|---|---|---|---|---|---|"]
    for r in stages:
        lines.append(f"| {r['model']} | {r['stage']} | {r['seconds']} | {r['peak_gpu_mb']} | "
                     f"{r.get('train_tokens_per_s') or ''} | {r['exit_code']} |")
    for model in ("135M", "1.7B"):
        if f"teacher_{model}" in results:
            table = teacher_table()(results[f"teacher_{model}"], f"random {model}", machine.split(";")[0] + ", bf16")
            lines += ["", table.replace("## Teacher:", f"### Teacher on the GPU, {model}:")]
        rows = results.get(f"generation_{model}")
        if rows:
            lines += ["", f"### Greedy generation on the GPU, {model} ({rows[0]['prompts']} questions, <= 48 new tokens)",
                      "", "| batch size | seconds | generated tokens | tokens/s | vs batch 1 |", "|---|---|---|---|---|"]
            lines += [f"| {r['batch_size']} | {r['seconds']} | {r['generated_tokens']} | {r['tokens_per_s']} | "
                      f"{r['tokens_per_s'] / rows[0]['tokens_per_s']:.2f}x |" for r in rows]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps({"machine": machine, "stages": stages, **results}, indent=1))


def default_source() -> Path:
    from causal_unlearn.core.models import load_family, model_dir

    return Path(model_dir(load_family("smollm2-135m")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=None, help="config.json + tokenizer of SmolLM2-135M")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    parser.add_argument("--sentence-chunk", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true", help="only the 135M model")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "gpu.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    import torch

    if not torch.cuda.is_available():
        sys.exit("bench/gpu_check.py needs a CUDA GPU (torch.cuda.is_available() is False); run it on a GPU machine.")
    logs = args.work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    python, source = sys.executable, args.source or default_source()
    models, stages = {}, []
    for name, shape in (("135M", "135m"), ("1.7B", "1.7b"))[:1 if args.skip_large else 2]:
        models[name] = args.work / "models" / shape
        stages.append(run_stage(name, "build random model", [python, "bench/gpu_models.py", "--source", str(source),
                                                              "--out", str(models[name]), "--shape", shape], logs))
    stages += pipeline(python, models, args.work, args.sentence_chunk, logs)
    bench_stages, results = benchmarks(python, models, args.work, logs)
    write_report(args.out, describe(), stages + bench_stages, results, args.sentence_chunk)
    logger.info("%s", args.out.read_text())


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
