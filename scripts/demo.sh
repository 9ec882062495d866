#!/usr/bin/env bash
# The main job on the embedded default (no network needed beyond the first install):
#   1. implant the fictitious world data/wpu_mini into SmolLM2-135M-Instruct (cached after the
#      first run, ~6 min on 2 CPU cores);
#   2. evaluate the base and the implanted model on the forget, hard-retain and general-retain QA;
#   3. write one comparison table, results/demo/summary.csv, print it, and write
#      results/demo/report.md with one plot per split.
#
#   bash scripts/demo.sh                      # split forget_2_1, outputs in results/demo
#   bash scripts/demo.sh forget_2_2           # other split(s) as arguments
#   bash scripts/demo.sh -o /tmp/demo forget_2_1 forget_2_2
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="results/demo"
while getopts "o:" flag; do
    case "$flag" in
        o) out_dir="$OPTARG" ;;
        *) echo "usage: bash scripts/demo.sh [-o out_dir] [split ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
splits=("${@:-forget_2_1}")

bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=".venv/bin/python"
# Same default as config/finetune_mini.yaml save_dir; passed explicitly so later stages know it.
implant_dir="${CAUSAL_UNLEARN_CACHE:-$HOME/.cache/causal_unlearn}/models/implanted-wpu_mini"

timed() {  # timed LABEL CMD...: run a stage and print its wall time
    local label="$1" started=$SECONDS
    shift
    "$@"
    echo "[demo] $label: $((SECONDS - started)) s"
}

timed "implant (finetune.py)" $python finetune.py --config-name=finetune_mini.yaml save_dir="$implant_dir"
for split in "${splits[@]}"; do
    for method in base implanted; do
        model_path=null
        [[ $method == implanted ]] && model_path="$implant_dir"
        eval_dir="$out_dir/$method/$split/eval"
        timed "evaluate $method on $split" $python evaluate_util.py --config-name=forget_mini.yaml \
            split="$split" model_path="$model_path" eval.save_dir="$eval_dir"
        $python aggregate_wpu.py --eval-dir "$eval_dir" --summary "$out_dir/summary.csv" --method "$method" --split "$split"
    done
done
$python -c "import pandas as pd, sys; pd.set_option('display.width', 200); print(pd.read_csv(sys.argv[1]).round(3).to_string(index=False))" "$out_dir/summary.csv"
$python report.py --summary "$out_dir/summary.csv" --reference implanted
echo "[demo] summary: $out_dir/summary.csv; report: $out_dir/report.md"
