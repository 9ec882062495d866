#!/usr/bin/env bash
# The test suite (what CI runs). Installs the environment on first use.
#   bash scripts/test.sh                 # default suite (slow tests excluded)
#   bash scripts/test.sh -m slow         # only the slow tests
#   bash scripts/test.sh tests/unit/core/test_models.py -k tiny   # any pytest arguments
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$repo_root/scripts/setup_env.sh"
cd "$repo_root"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [[ $# -eq 0 ]]; then
    set -- -m "not slow"
fi
# --durations: the ten slowest tests close every run, so the suite's time budget can be watched.
exec "$repo_root/.venv/bin/python" -m pytest -q --durations=10 "$@"
