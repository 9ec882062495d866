#!/usr/bin/env bash
# The TOFU pipeline, per split: teacher (intervention/whp only) -> forget with a checkpoint every
# epoch -> evaluation of every checkpoint (eval_checkpoints.py: checkpoint-*/eval/ with TOFU's
# eval logs and aggregate_stat.csv) -> best_checkpoint.json + report.md in the run folder.
#
#   bash scripts/tofu.sh -f intervention -n 1 -g 0,1 -- teacher.authors_file=../shared/data/reference/tofu_author.txt
#   bash scripts/tofu.sh -f npo -g "" -p forget01 -r RETAIN/eval_log_aggregated.json     # CPU
#   bash scripts/tofu.sh -f intervention -m models/target -d ../shared/data/tofu -p forget01 \
#       -- model_family=smollm2-135m teacher.authors_file=PATH eval.ds_size=40
#
# Flags (the original's first four):
#   -f forget_loss   intervention | whp | npo | grad_diff | grad_ascent | idk | simnpo | dpo | rmu |
#                    undial | wga | satimp | ceu
#   -s save_dir_root where runs go (default results)
#   -g gpu_ids       comma list, e.g. 0,1; "" = CPU (also the default when no GPU is visible)
#   -n num_dist      N substitute names for intervention (default 1, the paper's TOFU setting;
#                    forced to 1 for other methods)
#   -p splits        space-separated forget splits (default: $TOFU_SPLITS or forget10, as the original)
#   -d data_path     local folder of TOFU's {config}.json files (or a hub id) instead of the config's
#   -c config        Hydra config name (default forget_tofu.yaml)
#   -m model_path    the fine-tuned target model to unlearn (default: the config's; null: the
#                    model_family's own weights)
#   -r retain_result a retain model's eval_log_aggregated.json (enables Forget Quality)
#   -l label         name of the run folder (default: forget_loss)
#   -- ARGS          further Hydra overrides (they win over this script's defaults). ARGS go to
#                    the teacher and forget stages; `eval.KEY=V` goes to eval_checkpoints.py as
#                    KEY=V (config eval_everything.yaml: ds_size, batch_size, generation.max_new_tokens,
#                    ...), and model_family / data_path go to both.
#
# intervention and whp need teacher.authors_file (one author per line; the original's is
# ../shared/data/reference/tofu_author.txt), passed after --.
# Runs go to {save_dir_root}/{label}/{N}_{seed}_{split}/; each stage skips itself when its
# outputs match its inputs (fingerprints), so the same command after an interruption continues
# where it stopped (forget.py resumes from its last checkpoint).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

forget_loss=intervention save_dir_root=results gpu_ids="" num_dist=1 config=forget_tofu.yaml
splits="${TOFU_SPLITS:-forget10}" data_path="" model_path="" retain_result="" label=""
# Splits the original listed: forget10 (forget05 and forget01 commented out).
while getopts "f:s:g:n:p:d:c:m:r:l:" flag; do
    case "$flag" in
        f) forget_loss="$OPTARG" ;;
        s) save_dir_root="$OPTARG" ;;
        g) gpu_ids="$OPTARG" ;;
        n) num_dist="$OPTARG" ;;
        p) splits="$OPTARG" ;;
        d) data_path="$OPTARG" ;;
        c) config="$OPTARG" ;;
        m) model_path="$OPTARG" ;;
        r) retain_result="$OPTARG" ;;
        l) label="$OPTARG" ;;
        *) sed -n 2,33p "${BASH_SOURCE[0]}" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
label="${label:-$forget_loss}"
if [[ $forget_loss == prompt_baseline ]]; then
    echo "[tofu] error: prompt_baseline is a WPU pipeline (scripts/wpu.sh)" >&2; exit 2
fi
if [[ -n "$retain_result" && ! -f "$retain_result" ]]; then
    echo "[tofu] error: -r $retain_result does not exist (a retain model's eval_log_aggregated.json)" >&2; exit 2
fi

# Split the overrides after --: eval.KEY=V only for eval_checkpoints.py; the rest for teacher/forget.
extra=() eval_extra=()
for arg in "$@"; do
    case "$arg" in
        eval.*) eval_extra+=("${arg#eval.}") ;;
        model_family=*|data_path=*) extra+=("$arg"); eval_extra+=("$arg") ;;
        *) extra+=("$arg") ;;
    esac
done

log_tag=tofu
source "$repo_root/scripts/pipeline_lib.sh"

override_value() {  # override_value KEY DEFAULT: the user's value for KEY, else DEFAULT
    local arg value="$2"
    for arg in "${extra[@]}"; do [[ "$arg" == "$1="* ]] && value="${arg#*=}"; done
    echo "$value"
}

for key in split forget_loss save_dir_root save_dir teacher.N model_path data_path; do
    if overridden "$key"; then
        echo "[tofu] error: set $key with this script's flags, not after -- (see: bash $0 -h)" >&2; exit 2
    fi
done
seed=$(override_value seed 42)

for split in $splits; do
    # Per-split settings are computed afresh here, so nothing leaks into the next split.
    n=$num_dist
    [[ $forget_loss == intervention ]] || n=1
    save_dir="$save_dir_root/$label/${n}_${seed}_${split}"
    args=("split=$split" "forget_loss=$forget_loss" "save_dir_root=$save_dir_root" "teacher.N=$n" "save_dir=$save_dir")
    overridden seed || args+=("seed=$seed")
    [[ -n "$data_path" ]] && args+=("data_path=$data_path")
    [[ -n "$model_path" ]] && args+=("model_path=$model_path")
    [[ $forget_loss == whp ]] && ! overridden teacher.whp_baseline && args+=("teacher.whp_baseline=true")
    if [[ $config == forget_tofu.yaml ]]; then  # the original script's schedule for TOFU
        retain_strength=0
        with_retain_term "$forget_loss" && retain_strength=1
        overridden num_epochs || args+=("num_epochs=10")
        overridden gradient_accumulation_steps || args+=("gradient_accumulation_steps=1")
        overridden lr || args+=("lr=1e-5")
        overridden retain_strength || args+=("retain_strength=$retain_strength")
    fi
    # A checkpoint every epoch: save_steps = steps per epoch from forget.py's own step arithmetic
    # (one item per forget QA pair); it also refuses the teacher's inputs (TOFU: the authors file) now.
    plan=$(WORLD_SIZE=$(( n_gpus > 1 ? n_gpus : 1 )) $python -m causal_unlearn.pipeline_queries epoch-checkpoints "$config" \
        "${args[@]}" "${extra[@]}") || { echo "[tofu] (teacher.authors_file and other overrides go after --)" >&2; exit 1; }
    read -r save_steps save_total_limit <<< "$plan"
    overridden save_steps || args+=("save_steps=$save_steps")
    overridden save_total_limit || args+=("save_total_limit=$save_total_limit")
    args+=("${extra[@]}")
    common=(--config-name="$config" "${args[@]}")
    echo "[tofu] split $split, method $forget_loss ($label): ${args[*]}"

    if [[ $forget_loss == intervention || $forget_loss == whp ]]; then
        timed "teacher" "${launcher[@]}" teacher.py "${common[@]}"
    fi
    timed "forget" "${launcher[@]}" forget.py "${common[@]}"
    eval_args=("run_dir=$save_dir" "split=$split")
    [[ -n "$data_path" ]] && eval_args+=("data_path=$data_path")
    [[ -n "$retain_result" ]] && eval_args+=("retain_result=$retain_result")
    timed "evaluate checkpoints" $python eval_checkpoints.py "${eval_args[@]}" "${eval_extra[@]}"
    $python -c "
import json, sys
best = json.load(open(sys.argv[1]))
row = best['rows'][best['best']]
print(f\"[tofu] best {best['best']} ({best['rule']}): Forget Quality {row['Forget Quality']:.3g}, \"
      f\"Model Utility {row['Model Utility']:.3g}, ROUGE Forget {row['ROUGE Forget']:.3g}\")" "$save_dir/best_checkpoint.json"
    echo "[tofu] report: $save_dir/report.md"
done
