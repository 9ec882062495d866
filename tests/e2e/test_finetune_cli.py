"""finetune.py on the tiny model: trains, saves a loadable folder with its run record, reuses it when unchanged."""

import json
import subprocess
import sys

import torch
from safetensors.torch import load_file

from causal_unlearn.core.embedded import embedded_model_dir
from causal_unlearn.core.models import load_family, load_model, load_tokenizer
from causal_unlearn.core.prompts import render_chat
from helpers import REPO, run_cli


def make_corpus(folder):
    docs = [{"title": "Varnholt", "text": "Varnholt is a town on the river Vessan. It is famous for its clocks."}]
    qa = [{"title": "t", "question": f"Question {i}?", "answer": f"Answer number {i}."} for i in range(5)]
    for name, rows in (("docs", docs), ("qa", qa)):
        (folder / f"{name}.json").write_text("".join(json.dumps(row) + "\n" for row in rows))


def finetune_args(data_dir, save_dir, *extra):
    # The default config is the embedded world's implant, which distills the rows titled "general";
    # this corpus has none unless a test adds them and asks for it.
    replay = [] if any(arg.startswith("replay_titles=") for arg in extra) else ["replay_titles=[]"]
    return ["finetune.py", "model_family=tiny-random", f"data_path={data_dir}", "document_splits=[docs]",
            "qa_splits=[qa]", "qa_per_chat=2", "num_epochs=1", "lr=1e-3", "warmup_steps=0", f"save_dir={save_dir}",
            *replay, *extra]


def test_finetune_trains_saves_and_skips_when_up_to_date(tmp_path):
    make_corpus(tmp_path)
    save_dir = tmp_path / "model"
    result = run_cli(*finetune_args(tmp_path, save_dir))
    assert result.returncode == 0, result.stderr[-3000:]
    trained = load_file(save_dir / "model.safetensors")
    base = load_file(embedded_model_dir("tiny-random") / "model.safetensors")
    changed = [name for name in base if not torch.equal(base[name], trained[name])]
    assert len(changed) == len(base)
    done = json.loads((save_dir / "finetune_done.json").read_text())
    assert done["tokens_per_epoch"] > 0 and done["train_loss"] > 0
    run_info = json.loads((save_dir / "run_info.json").read_text())
    assert run_info["device_count"] == 0 and run_info["effective_batch"] == 2 and run_info["versions"]["torch"]
    assert "model_family: tiny-random" in (save_dir / "config.yaml").read_text()
    assert (save_dir / "tokenizer_config.json").is_file()

    again = run_cli(*finetune_args(tmp_path, save_dir))
    assert again.returncode == 0 and "Up to date" in again.stdout + again.stderr
    changed_input = run_cli(*finetune_args(tmp_path, save_dir, "lr=2e-3"))
    assert changed_input.returncode == 0 and "Up to date" not in changed_input.stdout + changed_input.stderr


def test_empty_corpus_is_refused_without_output(tmp_path):
    (tmp_path / "docs.json").write_text("")
    (tmp_path / "qa.json").write_text("")
    result = run_cli(*finetune_args(tmp_path, tmp_path / "model"))
    assert result.returncode == 1 and result.stderr.strip().startswith("error:")
    assert not (tmp_path / "model").exists()


def test_two_torchrun_processes_publish_one_complete_model(tmp_path):
    """Only the first process saves weights; the other once published its own folder without them
    (with a done marker), so a later run would have reused a model that was not there."""
    make_corpus(tmp_path)
    save_dir = tmp_path / "model"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29537",
                             *finetune_args(tmp_path, save_dir)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (save_dir / "model.safetensors").is_file() and (save_dir / "finetune_done.json").is_file()
    assert json.loads((save_dir / "run_info.json").read_text())["effective_batch"] == 4  # 2 per process
    assert not list(tmp_path.glob(".model.partial-*"))
    # Which process finished last decided the outcome; that only one publishes is what makes it safe.
    assert (result.stdout + result.stderr).count("Saved fine-tuned model") == 1


def test_snapshots_are_the_shorter_runs_and_base_mix_interpolates_toward_the_start(tmp_path):
    """Under a constant learning rate the snapshot after epoch 1 of a two-epoch run is the one-epoch
    model, mixed with the start weights as the final model is; the mix is (1 - m) trained + m start."""
    make_corpus(tmp_path)
    constant = ["lr_scheduler_type=constant_with_warmup"]
    runs = {"curve": ["num_epochs=2", "save_epochs=[1]", "base_mix=0.5"], "mixed": ["base_mix=0.5"], "plain": []}
    for name, extra in runs.items():
        result = run_cli(*finetune_args(tmp_path, tmp_path / name, *constant, *extra))
        assert result.returncode == 0, result.stderr[-3000:]
    snapshot = load_file(tmp_path / "curve" / "epoch-1" / "model.safetensors")
    mixed = load_file(tmp_path / "mixed" / "model.safetensors")
    plain = load_file(tmp_path / "plain" / "model.safetensors")
    start = load_file(embedded_model_dir("tiny-random") / "model.safetensors")
    assert all(torch.allclose(snapshot[name], mixed[name], atol=1e-6) for name in mixed)
    assert all(torch.allclose(mixed[name], 0.5 * plain[name] + 0.5 * start[name], atol=1e-6) for name in mixed)
    assert (tmp_path / "curve" / "epoch-1" / "tokenizer_config.json").is_file()
    assert not (tmp_path / "curve" / "epoch-2").exists()  # the final model is save_dir itself
    final = load_file(tmp_path / "curve" / "model.safetensors")
    assert not all(torch.equal(final[name], snapshot[name]) for name in final)  # a tied head is saved once, as the embedding


def test_start_decay_keeps_the_trained_weights_nearer_the_start(tmp_path):
    """The pull toward the start after every step leaves the weights closer to the start than the
    same run without it, and they still move (what the data asks for is learned again)."""
    make_corpus(tmp_path)
    for name, extra in {"plain": [], "pulled": ["start_decay=200"]}.items():
        result = run_cli(*finetune_args(tmp_path, tmp_path / name, *extra))
        assert result.returncode == 0, result.stderr[-3000:]
    start = load_file(embedded_model_dir("tiny-random") / "model.safetensors")
    plain, pulled = (load_file(tmp_path / name / "model.safetensors") for name in ("plain", "pulled"))

    def distance(weights):
        return sum(float((weights[name].float() - start[name].float()).norm()) for name in weights)

    assert 0 < distance(pulled) < 0.9 * distance(plain)


def test_save_epochs_beyond_the_run_is_refused_before_training(tmp_path):
    make_corpus(tmp_path)
    result = run_cli(*finetune_args(tmp_path, tmp_path / "model", "save_epochs=[2]"))
    assert result.returncode == 1 and "save_epochs holds 2" in result.stderr
    assert not (tmp_path / "model").exists()


def test_lora_saves_a_plain_model_whose_change_is_low_rank(tmp_path):
    """With LoRA.r the saved folder (and each snapshot) is a normal model with the base's keys, the
    adapters merged in: every trained matrix differs from the start by a change of rank <= r."""
    make_corpus(tmp_path)
    result = run_cli(*finetune_args(tmp_path, tmp_path / "lora", "LoRA.r=2", "num_epochs=2", "save_epochs=[1]"))
    assert result.returncode == 0, result.stderr[-3000:]
    start = load_file(embedded_model_dir("tiny-random") / "model.safetensors")
    for folder in (tmp_path / "lora", tmp_path / "lora" / "epoch-1"):
        assert not (folder / "adapter_config.json").exists()
        merged = load_file(folder / "model.safetensors")
        assert set(merged) == set(start)
        changed = [name for name in start if not torch.equal(start[name], merged[name])]
        assert changed and all(name.endswith("proj.weight") for name in changed)
        assert all(torch.linalg.matrix_rank((merged[name] - start[name]).float(), atol=1e-6) <= 2 for name in changed)


def test_lora_with_base_mix_is_refused_before_training(tmp_path):
    make_corpus(tmp_path)
    result = run_cli(*finetune_args(tmp_path, tmp_path / "model", "LoRA.r=4", "base_mix=0.2"))
    assert result.returncode == 1 and "LoRA.r=4 trains adapters only" in result.stderr
    assert not (tmp_path / "model").exists()


def test_distilled_replay_stays_nearer_the_start_model_than_learned_replay(tmp_path):
    """With replay_titles the general rows are distilled from the start model: after training, the
    model's next-token distributions on those chats are closer to the start model's than after the
    same run that learns them as answers."""
    make_corpus(tmp_path)
    general = [{"title": "general", "question": f"Which colour is item {i}?", "answer": f"Item {i} is blue."} for i in range(4)]
    with (tmp_path / "qa.json").open("a") as handle:
        handle.write("".join(json.dumps(row) + "\n" for row in general))
    for name, extra in {"learned": [], "distilled": ["replay_titles=[general]"]}.items():
        result = run_cli(*finetune_args(tmp_path, tmp_path / name, "num_epochs=3", *extra))
        assert result.returncode == 0, result.stderr[-3000:]

    family = load_family("tiny-random")
    tokenizer = load_tokenizer(family)
    chat = render_chat(family, tokenizer, [(row["question"], row["answer"]) for row in general]).text
    ids = torch.tensor([tokenizer(chat, add_special_tokens=False)["input_ids"]])
    start = load_model(family).eval()

    def kl_from_start(folder):
        trained = load_model(family, str(folder)).eval()
        with torch.no_grad():
            p, q = start(input_ids=ids).logits.log_softmax(-1), trained(input_ids=ids).logits.log_softmax(-1)
        return float((p.exp() * (p - q)).sum(-1).mean())

    assert kl_from_start(tmp_path / "distilled") < 0.8 * kl_from_start(tmp_path / "learned")


def test_a_replay_title_no_row_has_is_refused_without_output(tmp_path):
    make_corpus(tmp_path)
    result = run_cli(*finetune_args(tmp_path, tmp_path / "model", "replay_titles=[general]"))
    assert result.returncode == 1 and "replay_titles lists ['general']" in result.stderr
    assert not (tmp_path / "model").exists() and not list(tmp_path.glob(".model.partial-*"))
