#!/usr/bin/env bash
# The WPU pipeline, per split: teacher (intervention/whp only) -> forget (+ evaluation into
# checkpoint-{steps}/) -> many-shot jailbreak -> soft-embedding attack -> LLM judge (these three
# in one process, attacks.py) -> summary row + report. `-f prompt_baseline` evaluates the system-prompt baseline instead of training.
#
#   bash scripts/wpu.sh -f intervention -s results -g 0,1 -n 20            # the paper's setting
#   bash scripts/wpu.sh -f npo -g "" -p "forget_2_1 forget_2_2"            # CPU, two splits
#   bash scripts/wpu.sh -f intervention -c forget_mini.yaml -d data/wpu_mini -n 5 -- model_path=PATH
#
# Flags (the original's first four):
#   -f forget_loss   intervention | whp | npo | grad_diff | grad_ascent | idk | simnpo | dpo | rmu |
#                    undial | wga | satimp | ceu | prompt_baseline
#   -s save_dir_root where runs go (default results)
#   -g gpu_ids       comma list, e.g. 0,1; "" = CPU (also the default when no GPU is visible)
#   -n num_dist      N substitute names for intervention (forced to 1 for other methods)
#   -p splits        space-separated forget splits (default: $WPU_SPLITS or forget_2_1, as the original)
#   -d data_path     local folder of {config}.json files (or a hub id) instead of the config's
#   -c config        Hydra config name (default forget_wpu.yaml)
#   -l label         name of the run folder and summary row (default: forget_loss)
#   -o other_split   also score this forget split as "Other Persons" (non-targets)
#   -- ARGS          further Hydra overrides for every stage (they win over this script's defaults)
#
# Runs go to {save_dir_root}/{label}/{N}_{seed}_{split}/; each stage skips itself when its
# outputs match its inputs (fingerprints), so the same command after an interruption continues
# where it stopped. Every split's row lands in {save_dir_root}/summary.csv, then report.md.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

forget_loss=intervention save_dir_root=results gpu_ids="" num_dist=20 config=forget_wpu.yaml
splits="${WPU_SPLITS:-forget_2_1}" data_path="" label="" other_split="" seed=42
# Splits the original listed: forget_2_1..forget_2_5, forget_20_1..forget_20_3, forget_100.
while getopts "f:s:g:n:p:d:c:l:o:" flag; do
    case "$flag" in
        f) forget_loss="$OPTARG" ;;
        s) save_dir_root="$OPTARG" ;;
        g) gpu_ids="$OPTARG" ;;
        n) num_dist="$OPTARG" ;;
        p) splits="$OPTARG" ;;
        d) data_path="$OPTARG" ;;
        c) config="$OPTARG" ;;
        l) label="$OPTARG" ;;
        o) other_split="$OPTARG" ;;
        *) sed -n 2,23p "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
extra=("$@")
label="${label:-$forget_loss}"

log_tag=wpu
source "$repo_root/scripts/pipeline_lib.sh"

for split in $splits; do
    # Per-split settings are computed afresh here, so nothing leaks into the next split
    # (the original reassigned them in the loop and carried forget_100's epochs onwards).
    n=$num_dist
    [[ $forget_loss == intervention ]] || n=1
    args=("split=$split" "forget_loss=$forget_loss" "save_dir_root=$save_dir_root" "seed=$seed" "teacher.N=$n"
          "save_dir=$save_dir_root/$label/${n}_${seed}_${split}")
    [[ -n "$data_path" ]] && args+=("data_path=$data_path")
    [[ -n "$other_split" ]] && args+=("eval.other_persons_split=$other_split")
    [[ $forget_loss == whp ]] && args+=("teacher.whp_baseline=true")
    if [[ $config == forget_wpu.yaml ]]; then  # the original script's schedule for WPU
        epochs=10 accumulation=10 lr=1e-5 retain_strength=0
        [[ $split == forget_100 ]] && epochs=2
        [[ $split == forget_2_* ]] && accumulation=1
        with_retain_term "$forget_loss" && lr=4e-5 retain_strength=1
        overridden num_epochs || args+=("num_epochs=$epochs")
        overridden gradient_accumulation_steps || args+=("gradient_accumulation_steps=$accumulation")
        overridden lr || args+=("lr=$lr")
        overridden retain_strength || args+=("retain_strength=$retain_strength")
    fi
    args+=("${extra[@]}")
    common=(--config-name="$config" "${args[@]}")
    echo "[wpu] split $split, method $forget_loss ($label): ${args[*]}"

    if [[ $forget_loss == prompt_baseline ]]; then
        timed "prompt baseline" $python prompt_baseline.py "${common[@]}"
    else
        if [[ $forget_loss == intervention || $forget_loss == whp ]]; then
            timed "teacher" "${launcher[@]}" teacher.py "${common[@]}"
        fi
        timed "forget + evaluation" "${launcher[@]}" forget.py "${common[@]}"
    fi
    eval_dir=$($python -m causal_unlearn.pipeline_queries eval-dir "$config" "${args[@]}")
    if [[ ! -f "$eval_dir/eval_log_aggregated.json" ]]; then
        echo "[wpu] no evaluation in $eval_dir (a forget split without QA rows): attacks, judge and summary skipped"
        continue
    fi
    # The many-shot jailbreak, the soft-embedding attack and the judge, in one process (attacks.py).
    timed "attacks and judge" $python attacks.py "${common[@]}"
    $python aggregate_wpu.py --as-is --eval-dir "$eval_dir" --summary "$save_dir_root/summary.csv" \
        --method "$label" --split "$split"
done
# WPU_REPORT=0 leaves the report to the caller (scripts/demo.sh writes one after all its runs).
if [[ "${WPU_REPORT:-1}" != 0 && -f "$save_dir_root/summary.csv" ]]; then
    $python report.py --summary "$save_dir_root/summary.csv"
fi
echo "[wpu] summary: $save_dir_root/summary.csv, report: $save_dir_root/report.md"
