#!/usr/bin/env bash
# Forgetting-retention frontiers on the embedded default (frontier.py, docs/frontier.md): sets up the
# environment like the other scripts, then runs the grid of config/frontier_mini.yaml. Arguments are
# Hydra overrides of that config (`--config-name=frontier_wpu` for the paper's model on GPUs).
#
#   bash scripts/frontier.sh                                          # the default grid, results/frontier
#   bash scripts/frontier.sh frontier.splits=[forget_2_1,forget_2_2] frontier.seeds=[1,2,3]
#   bash scripts/frontier.sh frontier.report_only=true                # report from the finished runs
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}" TOKENIZERS_PARALLELISM=false
exec .venv/bin/python frontier.py "$@"
