#!/usr/bin/env bash
# The benchmarks, side by side in one process tree on this machine; writes bench/results.md and
# bench/results.png (sections in bench/sections/). About 15-20 minutes on 2 CPU cores once the
# implanted model is cached (the first run implants it, ~7 more minutes).
#   bash scripts/bench.sh                 # everything
#   bash scripts/bench.sh teacher train_step   # only some sections, then the summary
# Sections: limits (the machine's matmul peak and bandwidth, and each stage's share of them),
# teacher (compact vs dense, N x chunk length), teacher_world (the compact teacher's fidelity and
# size on every chunk of the embedded world and of unfamiliar persons, KL against bytes), memory
# (the CPU TOFU recipe's forget stage: peak RSS next to its arithmetic; needs ../shared's TOFU files),
# train_step (intervention vs SFT step, NPO memory), eval_generation (batch 1 vs the eval batch
# size), decode_dtype (answers from float32 vs a bfloat16 copy), end_to_end (one demo lane).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=".venv/bin/python"
sections=("${@:-limits teacher teacher_world memory train_step eval_generation decode_dtype end_to_end}")
read -r -a sections <<< "${sections[*]}"
started=$SECONDS
# Every benchmark measures the implanted model, so build (or find) it first.
$python scripts/stage_stats.py "implant (cached after the first run)" bench -- \
    $python finetune.py --config-name=finetune_mini.yaml
for section in "${sections[@]}"; do
    [[ -f "bench/$section.py" ]] || { echo "error: unknown section '$section' (no bench/$section.py)" >&2; exit 2; }
    $python scripts/stage_stats.py "bench/$section.py" bench -- $python "bench/$section.py"
done
$python bench/summarize.py > /dev/null
echo "[bench] total: $((SECONDS - started)) s; results: bench/results.md, bench/results.png"
