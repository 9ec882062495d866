"""The pipeline stages bench/limits.py measures, and the two instruments it measures them with.

Each stage is the project's own code on a real input from the embedded world:

- teacher: one chunk of about 256 tokens read with 5 substitutes and compacted (build_chunk_teacher,
  the shared prompt head read once beforehand, as teacher.py does);
- intervention step / SFT step: forward, loss, backward and AdamW on the same batch of 4 teacher
  chunks (lr 0, so the weights every other stage reads stay the implanted ones);
- answer losses: qa_eval.answer_losses on 32 questions of the world at the evaluation's batch size;
- decode batch 1 / decode batch B: eval.decoding.generate_answers, greedy, the evaluation's budget.

count_macs counts multiply-adds with torch's FlopCounterMode (matrix products and attention; norms
and activations are not counted, as in bench/arithmetic.py). The CPU attention kernel is not in
torch's table, so its formula is added here (causal attention counted as half the full matrix).
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
EVAL_SPLITS = ("forget_2_1", "forget_2_1_hard_retain", "general_retain")
MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::matmul",
              "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::_scaled_dot_product_flash_attention_for_cpu_backward",
              "aten::_scaled_dot_product_efficient_attention", "aten::_scaled_dot_product_flash_attention",
              "aten::_scaled_dot_product_efficient_attention_backward",
              "aten::_scaled_dot_product_flash_attention_backward", "aten::_scaled_dot_product_cudnn_attention"}


@dataclass
class Stage:
    """A stage to time: `run` does it once. Decoding stages also give the weight bytes one decoding
    step reads and count the steps of their last run (0 bytes: a compute-bound stage)."""

    run: Callable[[], object]
    bytes_per_step: int = 0
    steps: int = 0


def _cpu_attention_formulas() -> dict:
    import torch
    from torch.utils.flop_counter import sdpa_backward_flop_count, sdpa_flop_count

    aten = torch.ops.aten

    def forward(query, key, value, dropout_p=0.0, is_causal=False, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(query, key, value) // (2 if is_causal else 1)

    def backward(grad_out, query, key, value, out, logsumexp, dropout_p=0.0, is_causal=False, *args,
                 out_shape=None, **kwargs):
        return sdpa_backward_flop_count(grad_out, query, key, value) // (2 if is_causal else 1)

    return {aten._scaled_dot_product_flash_attention_for_cpu: forward,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: backward}


def count_macs(fn) -> int:
    """Multiply-adds one call of `fn` asks for (FlopCounterMode counts 2 FLOPs per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas()) as counter:
        fn()
    return counter.get_total_flops() // 2


def matmul_time_share(fn, top: int = 3) -> dict:
    """From one profiled call: the share of operator self time spent in matrix products, and the
    `top` other operators by self time with their shares (on a GPU, the kernels' device time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    cuda = torch.cuda.is_available()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        fn()

    def own_time(event) -> float:
        return event.self_device_time_total if cuda else event.self_cpu_time_total

    events = [e for e in prof.key_averages() if own_time(e) > 0]
    total = sum(own_time(e) for e in events)
    matmul = sum(own_time(e) for e in events if e.key in MATMUL_OPS)
    others = sorted((e for e in events if e.key not in MATMUL_OPS), key=lambda e: -own_time(e))[:top]
    return {"matmul_time_share": matmul / total, "top_other_ops": [(e.key, own_time(e) / total) for e in others]}


def _bench_module(name: str):
    """A sibling benchmark module by file (bench/teacher.py shares its name with the repo's teacher.py)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def teacher_stage(model, tokenizer, family) -> Stage:
    from causal_unlearn.teacher.chunk_teacher import TeacherSettings, build_chunk_teacher
    from causal_unlearn.teacher.names import name_variants
    from causal_unlearn.teacher.substitutes import generated_names

    bench_teacher = _bench_module("teacher")
    title = bench_teacher.TITLE
    chunk = bench_teacher.bench_chunk(tokenizer, 256)
    substitutes = generated_names(title, 5, seed=42, document=chunk)
    settings, prefix_caches = TeacherSettings(), {}

    def run():
        import torch

        with torch.no_grad():
            return build_chunk_teacher(model, tokenizer, family, chunk, title, name_variants(title), substitutes,
                                       settings, prefix_caches=prefix_caches)

    run()  # reads the shared prompt head into prefix_caches, as teacher.py does once for all chunks
    return Stage(run)


def training_stages(model, tokenizer, family) -> dict[str, Stage]:
    import torch

    from causal_unlearn.unlearn.losses import Predictions, mean_token_nll
    from causal_unlearn.unlearn.methods.intervention import Intervention

    with torch.no_grad():
        batch = _bench_module("train_step").teacher_batch(family, tokenizer, model)
    batch = {key: value.to(model.device) if torch.is_tensor(value) else value for key, value in batch.items()}
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)  # the full step's work, the weights unchanged
    method = Intervention()

    def step(loss_fn):
        def run():
            model.train()
            loss = loss_fn()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            model.eval()
        return run

    def sft_loss():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        return mean_token_nll(Predictions.of(logits, labels))

    return {"intervention step": Stage(step(lambda: method.forget_loss(model, batch))),
            "SFT step": Stage(step(sft_loss))}


def world_questions(limit: int) -> tuple[list[str], list[str]]:
    from causal_unlearn.core.data import load_split

    rows = [row for split in EVAL_SPLITS for row in load_split(str(REPO / "data/wpu_mini"), split)][:limit]
    return [row["question"] for row in rows], [row["answer"] for row in rows]


def eval_stages(model, tokenizer, family, eval_cfg) -> dict[str, Stage]:
    from causal_unlearn.core.prompts import question_prompt
    from causal_unlearn.eval.decoding import generate_answers
    from causal_unlearn.eval.qa_eval import answer_losses

    questions, answers = world_questions(32)
    prompts = [question_prompt(family, tokenizer, q) for q in questions]
    batch, new_tokens = int(eval_cfg.batch_size), int(eval_cfg.generation.max_new_tokens)
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())  # tied weights counted once
    stages = {"answer losses": Stage(lambda: answer_losses(model, tokenizer, family, questions, answers, batch))}

    def decoding(prompt_count: int, batch_size: int) -> Stage:
        stage = Stage(lambda: None, bytes_per_step=weight_bytes)

        def count_step(*_):
            stage.steps += 1

        def run():
            stage.steps = 0  # each forward of the model reads every weight once: one decoding step
            handle = model.get_decoder().register_forward_pre_hook(count_step)
            try:
                return generate_answers(model, tokenizer, prompts[:prompt_count], new_tokens, batch_size)
            finally:
                handle.remove()

        stage.run = run
        return stage

    stages["decode batch 1"] = decoding(8, 1)
    stages[f"decode batch {batch}"] = decoding(2 * batch, batch)
    return stages


def build_stages(model_path, device) -> tuple[dict[str, Stage], object]:
    """The stages by name, and the model's config (for the shape benchmark)."""
    from causal_unlearn.core.configs import compose_config
    from causal_unlearn.core.models import load_family, load_model, load_tokenizer

    family = load_family("smollm2-135m")
    tokenizer = load_tokenizer(family, model_path)
    model = load_model(family, model_path, device=device).eval()
    eval_cfg = compose_config("forget_mini.yaml", []).eval
    stages = {"teacher": teacher_stage(model, tokenizer, family), **training_stages(model, tokenizer, family),
              **eval_stages(model, tokenizer, family, eval_cfg)}
    return stages, model.config
