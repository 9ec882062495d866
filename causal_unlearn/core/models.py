"""Model families: resolve, load, and format prompts.

Every stage loads models and builds prompts through this module, so a family's prompt format
(the tokenizer's chat template, or the original's explicit `[INST]` tags) is defined once.
"""

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import OmegaConf

from causal_unlearn.core.embedded import EMBEDDED_PREFIX, embedded_model_dir
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.paths import repo_root

logger = logging.getLogger(__name__)

MODEL_CONFIG_PATH = repo_root() / "config" / "model_config.yaml"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class Family:
    name: str
    hf_key: str
    tokenizer_key: str | None
    prompt_format: str
    dtype: str
    attn_implementation: str
    gradient_checkpointing: bool
    max_context: int
    question_start_tag: str = ""
    question_end_tag: str = ""
    answer_tag: str = ""
    system_tag_template: str = "{system}\n\n"


def load_family(name: str) -> Family:
    """Look up a family in config/model_config.yaml; unknown names list the known ones."""
    families = OmegaConf.to_container(OmegaConf.load(MODEL_CONFIG_PATH))
    if name not in families:
        raise UserError(
            f"Unknown model_family '{name}'. Known families: {', '.join(families)} "
            f"(add one to {MODEL_CONFIG_PATH.relative_to(repo_root())})."
        )
    return Family(name=name, **families[name])


def resolve_path(key: str) -> str:
    """Turn an `embedded:<name>` key into its (built on demand) local folder; pass others through."""
    if key.startswith(EMBEDDED_PREFIX):
        return str(embedded_model_dir(key[len(EMBEDDED_PREFIX):]))
    local = Path(key).expanduser()
    if local.exists():
        if not local.is_dir():
            raise UserError(f"model_path '{key}' is a file; point it at a model folder (config.json + weights).")
        return str(local)
    return key  # a hub id


def model_dir(family: Family, model_path: str | None = None) -> str:
    """Where the weights come from: an explicit model_path (local dir or hub id) or the family's own."""
    return resolve_path(model_path) if model_path else resolve_path(family.hf_key)


def load_tokenizer(family: Family, model_path: str | None = None):
    """The tokenizer saved with model_path when it has one (fine-tuned folders, checkpoints),
    else the family's own."""
    from transformers import AutoTokenizer

    source = None
    if model_path:
        folder = model_dir(family, model_path)
        if Path(folder, "tokenizer_config.json").is_file() or not Path(folder).is_dir():
            source = folder  # a local folder with its own tokenizer, or a hub id
    if source is None:  # resolved only when needed: an embedded family's folder is built on demand
        source = resolve_path(family.tokenizer_key or family.hf_key)
    tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def pick_dtype(family: Family, device: torch.device) -> torch.dtype:
    if family.dtype == "auto":
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if cuda_bf16 else torch.float32
    if family.dtype not in DTYPES:
        raise UserError(f"Family {family.name}: dtype '{family.dtype}' is not one of auto, {', '.join(DTYPES)}.")
    return DTYPES[family.dtype]


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (AVX512-BF16 or AMX). There bf16 matrix
    products run about twice as fast as float32 ones; on other CPUs they are emulated, and slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: no way to tell, so no
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


CPU_BF16_SETTINGS = ("auto", True, False)


def uses_cpu_bf16(model, setting, key: str) -> bool:
    """Whether a float32 model on a CPU runs in bfloat16 under `setting` (config key `key`): true
    always, auto where the CPU computes bf16 in hardware, false never. Other models keep their dtype."""
    if setting not in CPU_BF16_SETTINGS:
        raise UserError(f"{key}={setting!r} is not one of auto, true, false; set it to one of them.")
    on_cpu_in_fp32 = model.device.type == "cpu" and model.dtype == torch.float32
    return on_cpu_in_fp32 and cpu_precision(setting) == "bf16"


def trains_in_bf16_autocast(model, setting) -> bool:
    """Whether training steps run under bfloat16 autocast (config key cpu_bf16_autocast). The weights,
    the optimizer state and the losses (computed on logits cast to float32) stay float32; only the
    matrix products run in bf16: 1.18x faster on the demo's NPO run (docs/results.md, "bfloat16 on a CPU")."""
    return uses_cpu_bf16(model, setting, "cpu_bf16_autocast")


def cpu_precision(setting) -> str:
    """The precision a float32 CPU model decodes or trains in under `setting` on this machine (auto
    resolves per machine, so fingerprints hold this, not the setting)."""
    return "bf16" if setting is True or (setting == "auto" and cpu_computes_bf16()) else "fp32"


def precision_record(setting) -> dict:
    """What a fingerprint holds of a cpu_bf16 setting: the precision it resolves to on this machine,
    and nothing for float32, so outputs made before the settings existed are still current."""
    return {"cpu_precision": "bf16"} if cpu_precision(setting) == "bf16" else {}


def decoding_model(model, setting):
    """The model greedy answers come from (config key eval.generation.cpu_bf16): a bfloat16 copy
    where uses_cpu_bf16 says so, else the model itself.

    Decoding a small model on a CPU is bound by reading the weights at every new token; half as many
    bytes make it about 1.6x faster on SmolLM2-135M, and a few answers change (bench/decode_dtype.py,
    docs/results.md). Probabilities are scored, and weights trained, in the model's own dtype: a
    copy, not a cast, so the float32 model stays as it was."""
    if not uses_cpu_bf16(model, setting, "eval.generation.cpu_bf16"):
        return model
    import copy

    return copy.deepcopy(model).to(torch.bfloat16).eval()


def pick_attention(family: Family, device: torch.device) -> str:
    wanted = family.attn_implementation
    if wanted == "flash_attention_2":
        usable = device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None
        if not usable:
            logger.info("flash_attention_2 needs CUDA and the flash-attn package; using sdpa instead")
            return "sdpa"
    return wanted


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(family: Family, model_path: str | None = None, device: torch.device | None = None):
    """Load a causal LM for `family` (weights from model_path when given) onto `device`."""
    from transformers import AutoModelForCausalLM

    device = device or default_device()
    source = model_dir(family, model_path)
    kwargs = {"dtype": pick_dtype(family, device), "attn_implementation": pick_attention(family, device)}
    if family.tokenizer_key and not Path(source, "config.json").is_file():
        from transformers import AutoConfig

        kwargs["config"] = AutoConfig.from_pretrained(resolve_path(family.tokenizer_key))
    try:
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except (OSError, ValueError) as err:
        raise UserError(
            f"Could not load model weights from '{source}': {err}. Check model_path (a folder with "
            f"config.json and *.safetensors, or a hub id you can reach)."
        ) from None
    return model.to(device)
