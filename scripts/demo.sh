#!/usr/bin/env bash
# The main job on the embedded default (no network needed beyond the first install):
#   1. implant the fictitious world data/wpu_mini into SmolLM2-135M-Instruct (cached after the
#      first run, ~9 min on 2 CPU cores);
#   2. evaluate the base and the implanted model (and attack the implanted one);
#   3. run the whole wpu.sh pipeline (teacher, forget, evaluation, many-shot jailbreak,
#      soft-embedding attack, judge) for intervention (the paper's pure form), whp, npo and
#      grad_diff (-m adds others: intervention_retain, prompt_baseline, ...);
#   4. write one comparison table, results/demo/summary.csv (rows accumulate across runs; a rerun
#      replaces its own rows), print it, and write results/demo/report.md with one plot per split.
#
#   bash scripts/demo.sh                      # split forget_2_1, outputs in results/demo
#   bash scripts/demo.sh forget_2_2           # other split(s) as arguments
#   bash scripts/demo.sh -o /tmp/demo forget_2_1 forget_2_2
#   bash scripts/demo.sh -m all forget_2_1 forget_2_2   # every method (about 4x longer), both splits
#   bash scripts/demo.sh -m "intervention intervention_retain prompt_baseline"  # chosen methods (base and implanted always run)
#   bash scripts/demo.sh -b                   # bf16 answers and training steps on a CPU that computes bf16 in
#                                             # hardware: about 1.3x faster, a few answers change (docs/results.md)
#
# "Other Persons" is the other split's forget QA: persons neither unlearned nor in a retain loss.
# Per-method settings below are the embedded world's schedules (chosen on forget_2_1 and the
# retain persons, never on the evaluation questions); README lists how they differ from WPU's.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="results/demo"
# The paper's method and the baselines it compares against; the others run with -m (each adds
# about 3 minutes on 2 cores): the demo stays within its 12-minute budget with the implant cached.
methods="intervention whp npo grad_diff"
every_method="$methods intervention_retain prompt_baseline grad_ascent idk simnpo dpo rmu undial wga satimp ceu"
precision=()  # float32 unless -b
while getopts "o:m:b" flag; do
    case "$flag" in
        o) out_dir="$OPTARG" ;;
        m) methods="$OPTARG" ;;
        b) precision=(eval.generation.cpu_bf16=auto cpu_bf16_autocast=auto) ;;
        *) echo "usage: bash scripts/demo.sh [-o out_dir] [-m methods|all] [-b] [split ...]" >&2; exit 2 ;;
    esac
done
[[ $methods == all ]] && methods="$every_method"
shift $((OPTIND - 1))
splits=("${@:-forget_2_1}")

bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=".venv/bin/python"
# Same default as config/finetune_mini.yaml save_dir; passed explicitly so later stages know it.
implant_dir="${CAUSAL_UNLEARN_CACHE:-$HOME/.cache/causal_unlearn}/models/implanted-wpu_mini"
demo_started=$SECONDS

timed() {  # timed LABEL CMD...: run a stage and print its wall time and peak RSS
    local label="$1"
    shift
    $python scripts/stage_stats.py "$label" demo -- "$@"
}

other_split_of() {  # the embedded world has two forget splits; each is the other's "Other Persons"
    [[ $1 == forget_2_1 ]] && echo forget_2_2 || echo forget_2_1
}

timed "implant (finetune.py)" $python finetune.py --config-name=finetune_mini.yaml save_dir="$implant_dir"
reference_stage() {  # reference_stage base|implanted: sets `stage`, the Hydra arguments of that model's stages on $split
    local method="$1" model_path=null
    eval_dir="$out_dir/$method/$split/eval"
    [[ $method == implanted ]] && model_path="$implant_dir"
    stage=(--config-name=forget_mini.yaml split="$split" model_path="$model_path" forget_loss=none
           eval.other_persons_split="$other" eval.save_dir="$eval_dir" eval_dir="$eval_dir" "${precision[@]}")
    # The implanted model also answers the forget QA about never-seen names: the Forget floor.
    [[ $method == implanted ]] && stage+=(eval.stranger_names=true)
    return 0
}

summary_row() {  # summary_row base|implanted: the model's row of summary.csv (after reference_stage)
    $python aggregate_wpu.py --as-is --eval-dir "$eval_dir" --summary "$out_dir/summary.csv" \
        --method "$1" --split "$split"
}

reference_eval() {  # reference_eval base|implanted: evaluate the model on $split
    reference_stage "$1"
    timed "evaluate $1 on $split" $python evaluate_util.py "${stage[@]}"
    $python aggregate_wpu.py --eval-dir "$eval_dir"
    # The implanted model's row waits for its attacks, a job of their own (reference_attacks).
    [[ $1 == implanted ]] || summary_row "$1"
}

reference_attacks() {  # both attacks on the implanted model, for reference, once its evaluation (an earlier job) is done
    local status_file="$queue.implanted-eval"
    while [[ ! -f "$status_file" ]]; do
        [[ -f "$queue" ]] || return 1  # the demo is ending (interrupted): nothing to wait for
        sleep 1
    done
    if [[ $(cat "$status_file") != 0 ]]; then
        echo "[demo] the implanted model's evaluation failed: its attacks are skipped" >&2
        return 1
    fi
    reference_stage implanted
    timed "attacks on implanted" $python attacks.py "${stage[@]}" 'attacks=[msj,soft_embed]'
    summary_row implanted
}

export WPU_REPORT=0  # each wpu.sh run adds its row; the one report is written at the end
wpu() {  # wpu LABEL METHOD [hydra overrides]: one method through the whole pipeline on $split
    local label="$1" method="$2"
    shift 2
    timed "pipeline $label on $split" bash scripts/wpu.sh -c forget_mini.yaml -f "$method" -l "$label" \
        -s "$out_dir" -p "$split" -o "$other" -n 10 -g "" -- model_path="$implant_dir" "${precision[@]}" "$@" 2>&1 |
        tr '\r' '\n' | grep --line-buffered -E '^\[(wpu|demo)\]|error' | sed -u "s/^/[$label] /"
}

run_strict() {  # run_strict CMD...: CMD in a subshell that stops at its first failing command; its exit status in $strict_status
    # Not `( ... ) || status=$?`: inside an || list bash ignores set -e, and a failed stage would go
    # unnoticed. Called as a plain command it returns 0, so the caller's set -e is not triggered.
    set +e
    (set -e; "$@")
    strict_status=$?
    set -e
}

run_job() {  # one entry of the job list below
    case "$1" in
        base) reference_eval base ;;
        implanted)  # the status tells the attacks' job (later in the queue) that it may start
            run_strict reference_eval implanted
            echo "$strict_status" > "$queue.implanted-eval"
            return "$strict_status" ;;
        implanted_attacks) reference_attacks ;;
        intervention) wpu intervention intervention lr=6e-5 ;;
        intervention_retain) wpu intervention_retain intervention lr=6e-5 retain_strength=1 retain_loss=kl ;;
        whp) wpu whp whp lr=6e-5 ;;
        prompt_baseline) wpu prompt_baseline prompt_baseline ;;
        grad_ascent|idk) wpu "$1" "$1" lr=6e-5 ;;
        # The baselines with a retain term (npo, grad_diff and the others): the original's CE retain term.
        *) wpu "$1" "$1" lr=6e-5 retain_strength=1 ;;
    esac
}

worker() {  # take the next job from the queue until it is empty; a failed job does not stop the others
    local job failed=0
    while job=$(flock "$queue.lock" sh -c 'head -n 1 "$1"; sed -i 1d "$1"' _ "$queue") && [[ -n "$job" ]]; do
        run_strict run_job "$job"
        (( strict_status == 0 )) || failed=1
    done
    return "$failed"
}

queue=$(mktemp)
trap 'rm -f "$queue" "$queue".*' EXIT
for split in "${splits[@]}"; do
    other=$(other_split_of "$split")
    # intervention and intervention_retain share one teacher: when both run, build it first, with
    # both cores (two jobs must not build it at once); one alone builds it in its own job.
    if [[ " $methods " == *" intervention "* && " $methods " == *" intervention_retain "* ]]; then
        timed "teacher for intervention on $split" $python teacher.py --config-name=forget_mini.yaml split="$split" \
            forget_loss=intervention teacher.N=10 save_dir_root="$out_dir" model_path="$implant_dir"
    fi
    # Then workers side by side, one core each, take jobs from one queue, longest first: small
    # models leave a 2-core CPU half idle in one process (tokenising, Python overhead), so two
    # processes finish sooner than one, and a queue keeps both busy to the end. DEMO_WORKERS=k
    # for a machine with k cores (on 2 cores, 3 workers measured no faster than 2).
    # The implanted model's evaluation first (its attacks, a later job, need it), then the methods
    # longest first (the baselines with a retain term train on twice the texts), then the
    # implanted model's attacks and the base model, the shortest jobs, which fill the end.
    rm -f "$queue.implanted-eval"
    {
        echo implanted
        for job in npo grad_diff simnpo dpo rmu undial wga satimp ceu intervention_retain intervention whp grad_ascent \
                   idk prompt_baseline; do
            if [[ " $methods " == *" $job "* ]]; then echo "$job"; fi
        done
        printf '%s\n' implanted_attacks base
    } > "$queue"
    export OMP_NUM_THREADS=1
    pids=()
    for _ in $(seq "${DEMO_WORKERS:-2}"); do
        worker &
        pids+=($!)
    done
    # Every worker runs to the end, even after another's job failed (a failed job stops only its worker).
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    if (( failed )); then
        echo "[demo] a job failed on $split (its error is above); the other jobs ran to the end" >&2
        exit 1
    fi
    unset OMP_NUM_THREADS
done
$python -c "import pandas as pd, sys; pd.set_option('display.width', 250); print(pd.read_csv(sys.argv[1]).round(3).to_string(index=False))" "$out_dir/summary.csv"
$python report.py --summary "$out_dir/summary.csv" --reference implanted
echo "[demo] total: $((SECONDS - demo_started)) s; summary: $out_dir/summary.csv; report: $out_dir/report.md"
