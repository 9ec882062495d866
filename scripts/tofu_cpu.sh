#!/usr/bin/env bash
# TOFU on real data, on a CPU, in under an hour (designed for 2 free cores): the embedded
# SmolLM2-135M stands in for TOFU's fine-tuned Llama-2-7b.
#   1. data:     OUT/data = TOFU's json files (links) + target_train.json (forget01's 40 QA + the
#                retain slice) + retain_slice.json (the first K rows of retain99, which are
#                TOFU's retain eval questions, + K rows after retain99's first 400, the pool
#                grad_diff's retain loss draws from, since forget.py keeps eval questions out)
#   2. target:   finetune.py on target_train  -> OUT/models/target
#   3. retain:   finetune.py on retain_slice (never sees forget01) -> OUT/models/retain
#   4. retain eval: evaluate_util.py (eval_everything tasks, ds_size items each) -> retain_result;
#      the target model evaluated the same way and aggregated (Forget Quality, Model Utility): step 0
#   5. tofu.sh -f intervention -n 1, then tofu.sh -f BASELINE for each baseline, on forget01 with the
#      target model: a checkpoint per epoch, each evaluated (same ds_size) into
#      checkpoint-*/eval/aggregate_stat.csv with Forget Quality and Model Utility, and
#      best_checkpoint.json + report.md per run;
#   6. OUT/tofu_frontier.md: Forget Quality against Model Utility at every checkpoint of every method,
#      each curve starting at the target model (step 0).
#
#   bash scripts/tofu_cpu.sh                           # everything under results/tofu_cpu
#   bash scripts/tofu_cpu.sh -o /tmp/tofu -b npo -z 20  # another folder, NPO alone as baseline, 20 eval items
#
# Flags:
#   -o out_dir    output folder (default results/tofu_cpu in the repo)
#   -d data_path  TOFU json folder (default ../shared/data/tofu, relative to the repo root)
#   -a authors    author list for the teacher (default ../shared/data/reference/tofu_author.txt)
#   -b baselines  space-separated baselines next to intervention (default "grad_diff npo"); any forget_loss
#   -k K          retain rows per part of the slice (default 20: 20 eval questions + 20 pool rows)
#   -z ds_size    eval items per task, for every evaluation (default 10)
#   -t tokens     generation.max_new_tokens for the ROUGE answers (default 24)
#   -e epochs     fine-tuning epochs of the target and retain models (default 3)
#   -u epochs     unlearning epochs, one checkpoint each (default 3)
# Each stage skips itself when its outputs are up to date, so a rerun continues where it stopped.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

out_dir="$repo_root/results/tofu_cpu" data_path="$repo_root/../shared/data/tofu"
authors="$repo_root/../shared/data/reference/tofu_author.txt" baselines="grad_diff npo"
k=20 ds_size=10 max_new_tokens=24 ft_epochs=3 unlearn_epochs=3
ft_lr=3e-4 unlearn_lr=1e-4  # a 135M model needs larger steps than TOFU's 1e-5 for Llama-2-7b
while getopts "o:d:a:b:k:z:t:e:u:" flag; do
    case "$flag" in
        o) out_dir="$OPTARG" ;;
        d) data_path="$OPTARG" ;;
        a) authors="$OPTARG" ;;
        b) baselines="$OPTARG" ;;
        k) k="$OPTARG" ;;
        z) ds_size="$OPTARG" ;;
        t) max_new_tokens="$OPTARG" ;;
        e) ft_epochs="$OPTARG" ;;
        u) unlearn_epochs="$OPTARG" ;;
        *) sed -n 2,29p "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done
for needed in forget01 forget01_perturbed retain99 retain_perturbed real_authors_perturbed world_facts_perturbed; do
    if [[ ! -f "$data_path/$needed.json" ]]; then
        echo "[tofu_cpu] error: $data_path/$needed.json is missing; point -d at a folder of TOFU's json files" \
             "(e.g. a copy of the locuslab/TOFU dataset)" >&2
        exit 2
    fi
done
if [[ ! -f "$authors" ]]; then
    echo "[tofu_cpu] error: author list $authors is missing (one TOFU author per line); pass it with -a" >&2
    exit 2
fi

# Paths given on the command line are relative to where the command runs; resolve them first.
mkdir -p "$out_dir"
data_path="$(cd "$data_path" && pwd)" authors="$(cd "$(dirname "$authors")" && pwd)/$(basename "$authors")"
out_dir="$(cd "$out_dir" && pwd)"
bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false CUDA_VISIBLE_DEVICES=""
python="$repo_root/.venv/bin/python"
family=smollm2-135m
eval_settings=("ds_size=$ds_size" "generation.max_new_tokens=$max_new_tokens" "batch_size=10")

timed() {  # timed LABEL CMD...: run a stage and print its wall time
    local stage="$1" started=$SECONDS
    shift
    "$@"
    echo "[tofu_cpu] $stage: $((SECONDS - started)) s"
    stage_times+=("$stage: $((SECONDS - started)) s")
}
stage_times=()

build_data() {  # files are rewritten only when their content changes (eval fingerprints see mtimes)
    $python - "$data_path" "$out_dir/data" "$k" <<'EOF'
import json, sys
from pathlib import Path
from causal_unlearn.core.data import load_split
source, folder, k = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
folder.mkdir(parents=True, exist_ok=True)
for file in Path(source).glob("*.json"):
    link = folder / file.name
    if not link.is_symlink() or link.resolve() != file.resolve():
        link.unlink(missing_ok=True)
        link.symlink_to(file.resolve())
forget, retain = load_split(source, "forget01"), load_split(source, "retain99")
evaluated = {row["question"] for row in load_split(source, "retain_perturbed")}
pool = [row for row in retain if row["question"] not in evaluated]
retain_slice = retain[:k] + pool[:k]
assert all(row["question"] in evaluated for row in retain[:k]), "retain99 no longer starts with the retain eval questions"
for name, rows in {"retain_slice": retain_slice, "target_train": forget + retain_slice}.items():
    path, text = folder / f"{name}.json", "".join(json.dumps(row) + "\n" for row in rows)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    print(f"[tofu_cpu] {path}: {len(rows)} QA pairs")
EOF
}

started_all=$SECONDS
timed "data" build_data
finetune=(--config-name=finetune_tofu.yaml "model_family=$family" "data_path=$out_dir/data"
          "num_epochs=$ft_epochs" "lr=$ft_lr")
timed "target model (forget01 + retain slice)" $python finetune.py "${finetune[@]}" \
    "qa_splits=[target_train]" "save_dir=$out_dir/models/target"
timed "retain model (retain slice only)" $python finetune.py "${finetune[@]}" \
    "qa_splits=[retain_slice]" "save_dir=$out_dir/models/retain"
evaluate_model() {  # evaluate_model MODEL_DIR SAVE_DIR: TOFU's tasks on forget01, ds_size items each
    $python evaluate_util.py --config-name=eval_everything.yaml "model_family=$family" "model_path=$1" \
        "data_path=$out_dir/data" split=forget01 "save_dir=$2" "${eval_settings[@]}"
}
timed "retain model evaluation" evaluate_model "$out_dir/models/retain" "$out_dir/retain_eval"
# The target model before unlearning, scored as a checkpoint is: step 0 of every method's curve.
timed "target model evaluation" evaluate_model "$out_dir/models/target" "$out_dir/target_eval"
$python aggregate_eval_tofu.py "ckpt_result=$out_dir/target_eval/eval_log_aggregated.json" \
    "retain_result=$out_dir/retain_eval/eval_log_aggregated.json" "save_file=$out_dir/target_eval/aggregate_stat.csv"

unlearn=(-n 1 -s "$out_dir/runs" -p forget01 -d "$out_dir/data" -m "$out_dir/models/target"
         -r "$out_dir/retain_eval/eval_log_aggregated.json" -- "model_family=$family"
         "num_epochs=$unlearn_epochs" batch_size=20 "lr=$unlearn_lr" retain_split=retain_slice gradient_checkpointing=true
         "${eval_settings[@]/#/eval.}")
# batch_size 20: 2 steps per epoch on forget01's 40 QA, so a checkpoint every 2 steps. Gradient
# checkpointing: the activations of 20 (grad_diff: 40) padded QA pairs would otherwise hold 3-6 GB
# (bench/memory.py).
timed "tofu.sh intervention" bash scripts/tofu.sh -f intervention "${unlearn[@]}" "teacher.authors_file=$authors"
frontier_runs=("intervention=$out_dir/runs/intervention/1_42_forget01")
for baseline in $baselines; do
    timed "tofu.sh $baseline" bash scripts/tofu.sh -f "$baseline" "${unlearn[@]}"
    frontier_runs+=("$baseline=$out_dir/runs/$baseline/1_42_forget01")
done
$python report.py --tofu-frontier "${frontier_runs[@]}" --start "$out_dir/target_eval" --out "$out_dir"

echo "[tofu_cpu] stage times:"
printf '  %s\n' "${stage_times[@]}"
echo "[tofu_cpu] total wall time: $((SECONDS - started_all)) s"
for run in "${frontier_runs[@]}"; do
    echo "[tofu_cpu] ${run#*=}: checkpoint-*/eval/aggregate_stat.csv, best_checkpoint.json, report.md"
done
echo "[tofu_cpu] frontier across methods: $out_dir/tofu_frontier.md"
