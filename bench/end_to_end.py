"""Benchmark: wall time and peak RSS of each stage of one demo lane, end to end.

Runs what `scripts/demo.sh` runs for one method, into a temporary folder: the implant (cached after
its first run), the evaluation of the implanted model, then `scripts/wpu.sh` for `intervention`
(teacher, forget + evaluation, then the attacks and the judge in one process). Every stage goes
through scripts/stage_stats.py, which records its wall time and the peak RSS of its processes.

    .venv/bin/python bench/end_to_end.py [--split forget_2_1] [--out bench/sections/end_to_end.md]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import describe_model  # noqa: E402

OTHER = {"forget_2_1": "forget_2_2", "forget_2_2": "forget_2_1"}


def run_stages(split: str, out: Path, implant_dir: Path, log: Path) -> None:
    env = {**os.environ, "STAGE_STATS_LOG": str(log), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    python, stats = str(REPO / ".venv/bin/python"), str(REPO / "scripts/stage_stats.py")

    def stage(label: str, *command: str) -> None:
        subprocess.run([python, stats, label, "bench", "--", *command], cwd=REPO, env=env, check=True)

    stage("implant (finetune.py, cached after the first run)", python, "finetune.py",
          "--config-name=finetune_mini.yaml", f"save_dir={implant_dir}")
    eval_dir = out / "implanted" / "eval"
    stage("evaluate the implanted model", python, "evaluate_util.py", "--config-name=forget_mini.yaml",
          f"split={split}", f"model_path={implant_dir}", "forget_loss=none", f"eval.other_persons_split={OTHER[split]}",
          f"eval.save_dir={eval_dir}", f"eval_dir={eval_dir}")
    subprocess.run(["bash", "scripts/wpu.sh", "-c", "forget_mini.yaml", "-f", "intervention", "-l", "intervention",
                    "-s", str(out), "-p", split, "-o", OTHER[split], "-n", "10", "-g", "", "--",
                    f"model_path={implant_dir}", "lr=6e-5"], cwd=REPO, env=env, check=True)


def write_report(rows: list[dict], out: Path, split: str, implant_dir: Path) -> None:
    total = sum(r["seconds"] for r in rows)
    lines = ["## End to end: one demo lane, stage by stage", "",
             f"Split {split}, method intervention (N=10), model {describe_model(str(implant_dir))}; "
             f"{os.cpu_count()} CPU cores, one process at a time (the demo runs two such lanes side by side).", "",
             "| stage | wall s | peak RSS MB |", "|---|---|---|"]
    lines += [f"| {r['stage']} | {r['seconds']:.0f} | {r['peak_rss_mb']} |" for r in rows]
    lines += [f"| total | {total:.0f} | {max(r['peak_rss_mb'] for r in rows)} |"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(rows, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="forget_2_1", choices=sorted(OTHER))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "sections" / "end_to_end.md")
    args = parser.parse_args()
    cache = Path(os.environ.get("CAUSAL_UNLEARN_CACHE", Path.home() / ".cache" / "causal_unlearn"))
    implant_dir = cache / "models" / "implanted-wpu_mini"
    with tempfile.TemporaryDirectory(prefix="bench_e2e_") as folder:
        log = Path(folder) / "stages.jsonl"
        run_stages(args.split, Path(folder) / "runs", implant_dir, log)
        rows = [json.loads(line) for line in log.read_text().splitlines()]
    write_report(rows, args.out, args.split, implant_dir)
    print(args.out.read_text())


if __name__ == "__main__":
    main()
