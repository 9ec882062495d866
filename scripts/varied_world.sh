#!/usr/bin/env bash
# The knowledge implant on the hand-written varied world (tests/data/varied_world: the same shape as
# data/wpu_mini, in natural, varied prose): implant it with the varied-world recipe, evaluate the base
# and the implanted model on both splits, and check the acceptance numbers
# (docs/benchmarks.md#the-varied-world):
#   implanted Forget ROUGE and Hard Retain ROUGE >= 0.8, implanted General Retain >= 0.85 x the base
#   model's, Stranger ROUGE <= 0.25, on every forget split. Exits 1 when one is missed.
#
#   bash scripts/varied_world.sh                    # outputs (the model too) in /tmp/varied_world
#   bash scripts/varied_world.sh -o DIR             # elsewhere
#   bash scripts/varied_world.sh -o DIR num_epochs=4  # finetune.py overrides on top of the recipe
#
# About 2 hours on 2 busy CPU cores, most of it the implant (measured: docs/benchmarks.md). A rerun
# with the same inputs reuses the implanted model (finetune.py's fingerprint).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="/tmp/varied_world"
while getopts "o:" flag; do
    case "$flag" in
        o) out_dir="$OPTARG" ;;
        *) echo "usage: bash scripts/varied_world.sh [-o out_dir] [finetune overrides ...]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))

bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python=".venv/bin/python"
data="tests/data/varied_world"
implant_dir="$out_dir/implant"
started=$SECONDS

# The varied-world recipe: finetune_mini.yaml (4 epochs, linear decay) on a larger corpus: three more
# wordings of every implant question (implant_qa_rephrased) and more general replay (implant_qa_general),
# the replay learned as answers at lr 1e-4. Distilled (the embedded world's setting) it kept 25 of 29
# general answers at lr 1e-4 and 24 at 1.3e-4, learned 27 (docs/results.md#the-varied-world-distilled-or-learned-replay).
recipe=(data_path="$data" "qa_splits=[implant_qa,implant_qa_rephrased,implant_qa_general]" "replay_titles=[]" lr=1e-4)

timed() {  # timed LABEL CMD...: run a stage and print its wall time and peak RSS
    local label="$1"
    shift
    $python scripts/stage_stats.py "$label" varied_world -- "$@"
}

evaluate() {  # evaluate METHOD SPLIT: base or implanted model on one split, one row of summary.csv
    local method="$1" split="$2" model_path=null eval_dir="$out_dir/$1/$2/eval"
    local other=forget_2_2
    [[ $split == forget_2_2 ]] && other=forget_2_1
    local stage=(--config-name=forget_mini.yaml data_path="$data" split="$split" forget_loss=none
                 eval.save_dir="$eval_dir" eval_dir="$eval_dir")
    # The implanted model also answers about the other split's targets and about never-seen names.
    [[ $method == implanted ]] && stage+=(model_path="$implant_dir" eval.other_persons_split="$other" eval.stranger_names=true)
    [[ $method == base ]] && stage+=(model_path="$model_path")
    timed "evaluate $method on $split" $python evaluate_util.py "${stage[@]}"
    $python aggregate_wpu.py --eval-dir "$eval_dir" --summary "$out_dir/summary.csv" --method "$method" --split "$split"
}

timed "implant (finetune.py)" $python finetune.py --config-name=finetune_mini.yaml "${recipe[@]}" "$@" save_dir="$implant_dir"
for split in forget_2_1 forget_2_2; do
    evaluate base "$split"
    evaluate implanted "$split"
done
echo "[varied_world] total: $((SECONDS - started)) s"

$python - "$out_dir/summary.csv" <<'EOF'
import sys

import pandas as pd

table = pd.read_csv(sys.argv[1]).set_index(["method", "split"])
failed = []
for split in ("forget_2_1", "forget_2_2"):
    base, implanted = table.loc[("base", split)], table.loc[("implanted", split)]
    checks = {
        "Forget ROUGE >= 0.8": implanted["Forget ROUGE"] >= 0.8,
        "Hard Retain ROUGE >= 0.8": implanted["Hard Retain ROUGE"] >= 0.8,
        "General Retain ROUGE >= 0.85 x base": implanted["General Retain ROUGE"] >= 0.85 * base["General Retain ROUGE"],
        "Stranger ROUGE <= 0.25": implanted["Stranger ROUGE"] <= 0.25,
    }
    print(f"[varied_world] {split}: Forget {implanted['Forget ROUGE']:.3f}, Hard Retain {implanted['Hard Retain ROUGE']:.3f}, "
          f"General Retain {implanted['General Retain ROUGE']:.3f} (base {base['General Retain ROUGE']:.3f}), "
          f"Stranger {implanted['Stranger ROUGE']:.3f}, Other Persons {implanted['Other Persons ROUGE']:.3f}; "
          f"base Forget {base['Forget ROUGE']:.3f}")
    failed += [f"{split}: {name}" for name, passed in checks.items() if not passed]
print("[varied_world] " + ("missed: " + "; ".join(failed) if failed else "every check passed"))
sys.exit(1 if failed else 0)
EOF
