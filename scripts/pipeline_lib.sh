# Shared by scripts/wpu.sh and scripts/tofu.sh (sourced, not run). Expects `repo_root`, the
# array `extra` (Hydra overrides after --) and `gpu_ids`; sets `python`, `n_gpus` and `launcher`.

# Environment: the venv (created on first use), offline only when the caller asks for it.
bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-0}" TOKENIZERS_PARALLELISM=false
python="$repo_root/.venv/bin/python"

# -g 0,1 -> two processes on GPUs 0 and 1; -g "" -> CPU even on a GPU machine.
n_gpus=0
if [[ -n "$gpu_ids" ]]; then
    export CUDA_VISIBLE_DEVICES="$gpu_ids"
    n_gpus=$(awk -F, '{print NF}' <<< "$gpu_ids")
else
    export CUDA_VISIBLE_DEVICES=""
fi

# How multi-process stages (teacher, forget) start: k GPUs -> k processes, else one.
launcher=("$python")
if (( n_gpus > 1 )); then
    launcher=("$python" -m torch.distributed.run --nproc_per_node="$n_gpus" --master_port="${MASTER_PORT:-18765}")
fi

overridden() {  # overridden KEY: whether the user passed KEY=... after --
    local arg
    for arg in "${extra[@]}"; do [[ "$arg" == "$1="* ]] && return 0; done
    return 1
}

timed() {  # timed LABEL CMD...: run a stage, print its wall time and peak RSS, prefixed by $log_tag
    local stage="$1"
    shift
    "$python" "$repo_root/scripts/stage_stats.py" "$stage" "$log_tag" -- "$@"
}

with_retain_term() {  # with_retain_term METHOD: the baselines the original's schedules train with a retain term (retain_strength=1)
    case "$1" in
        npo|grad_diff|simnpo|dpo|rmu|undial|wga|satimp|ceu) return 0 ;;
        *) return 1 ;;
    esac
}
