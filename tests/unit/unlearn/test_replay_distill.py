"""The implant's replay distillation: which positions are distilled, the loss against hand-computed
values, the replay chats finetune.py builds, and a short training run that moves the model and not
the frozen start copy."""

import json

import pytest
import torch
import torch.nn.functional as F
from transformers import TrainingArguments

from causal_unlearn.core.configs import compose_config
from causal_unlearn.core.errors import UserError
from causal_unlearn.core.models import load_family, load_model, load_tokenizer
from causal_unlearn.unlearn.finetune import build_examples, check_replay_titles
from causal_unlearn.unlearn.replay_distill import ReplayCollator, ReplayDistillTrainer, implant_loss, replay_positions

VOCAB = 7


def test_replay_positions_are_every_real_position_but_the_last_of_replay_rows_only():
    attention = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    positions = replay_positions(attention, torch.tensor([True, False]))
    assert positions.tolist() == [[True, True, False, False], [False] * 4]


def test_without_replay_rows_the_loss_is_the_causal_lm_loss():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, VOCAB)
    labels = torch.tensor([[-100, 3, 4, -100, -100], [-100, -100, 1, 2, 6]])
    expected = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss = implant_loss(logits, labels, torch.ones(2, 5, dtype=torch.long), torch.tensor([False, False]), None)
    assert torch.allclose(loss, expected)


def test_a_replay_row_adds_its_kl_to_the_start_model_and_its_positions_to_the_count():
    torch.manual_seed(1)
    logits, start = torch.randn(2, 4, VOCAB), torch.randn(1, 4, VOCAB)
    labels = torch.tensor([[-100, 2, 3, -100], [-100, 5, 5, -100]])  # the replay row's labels are not learned
    attention = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])  # the replay row has one padding position
    loss = implant_loss(logits, labels, attention, torch.tensor([False, True]), start)

    ce = F.cross_entropy(logits[0, :2], labels[0, 1:3], reduction="sum")
    p = start[0, :2].softmax(-1)  # positions 0 and 1 predict the replay row's real tokens 1 and 2
    kl = (p * (p.log() - logits[1, :2].log_softmax(-1))).sum()
    assert torch.allclose(loss, (ce + kl) / 4)


def test_a_model_that_matches_the_start_model_pays_nothing_on_replay_rows_but_padding_is_never_read():
    torch.manual_seed(2)
    logits = torch.randn(1, 4, VOCAB)
    attention = torch.tensor([[1, 1, 0, 0]])
    labels = torch.full((1, 4), -100)
    start = logits.clone()
    start[0, 1:] += 5 * torch.randn(3, VOCAB)  # differs only where no next real token is predicted
    loss = implant_loss(logits, labels, attention, torch.tensor([True]), start)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_the_gradient_reaches_the_model_not_the_start_logits():
    torch.manual_seed(3)
    logits = torch.randn(1, 3, VOCAB, requires_grad=True)
    start = torch.randn(1, 3, VOCAB, requires_grad=True)
    implant_loss(logits, torch.full((1, 3), -100), torch.ones(1, 3, dtype=torch.long), torch.tensor([True]),
                 start.detach()).backward()
    assert logits.grad.abs().sum() > 0 and start.grad is None


def qa_rows():
    world = [{"title": "Ada Lark", "question": f"Fact {i} of Ada Lark?", "answer": f"Ada Lark fact {i}."} for i in range(5)]
    general = [{"title": "general", "question": f"General {i}?", "answer": f"General answer {i}."} for i in range(3)]
    return world + general


def test_replay_titles_must_name_titles_of_the_qa_rows():
    assert check_replay_titles(["general"], qa_rows()) == {"general"}
    assert check_replay_titles([], qa_rows()) == set()
    with pytest.raises(UserError, match=r"replay_titles lists \['genral'\]"):
        check_replay_titles(["genral"], qa_rows())
    with pytest.raises(UserError, match="not a list of QA titles"):
        check_replay_titles("general", qa_rows())


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "docs.json").write_text(json.dumps({"title": "Ada Lark", "text": "Ada Lark is a potter."}) + "\n")
    (tmp_path / "qa.json").write_text("".join(json.dumps(row) + "\n" for row in qa_rows()))
    return tmp_path


def corpus_config(corpus, *overrides):
    return compose_config("finetune_mini.yaml", ["model_family=tiny-random", f"data_path={corpus}",
                                                 "document_splits=[docs]", "qa_splits=[qa]", "qa_per_chat=2", *overrides])


def test_replay_rows_get_chats_of_their_own_flagged_for_distillation(corpus):
    cfg = corpus_config(corpus, "replay_titles=[general]")
    family = load_family("tiny-random")
    tokenizer = load_tokenizer(family)
    examples = build_examples(cfg, family, tokenizer)
    texts = [(tokenizer.decode(e["input_ids"]), e["replay"]) for e in examples]
    assert [replay for _, replay in texts] == [False, False, False, False, True, True]  # document, 3 world chats, 2 replay
    assert all(("General" in text) == replay and ("Ada Lark fact" in text) != replay for text, replay in texts[1:])

    learned_alone = build_examples(corpus_config(corpus, "replay_titles=[]"), family, tokenizer)
    assert len(learned_alone) == 1 + 4 and not any("replay" in e for e in learned_alone)  # 8 rows in mixed chats


def test_a_short_run_moves_the_model_toward_the_world_and_leaves_the_start_copy_as_it_was(corpus, tmp_path):
    cfg = corpus_config(corpus, "replay_titles=[general]")
    family = load_family("tiny-random")
    tokenizer = load_tokenizer(family)
    model = load_model(family)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    args = TrainingArguments(output_dir=str(tmp_path / "run"), per_device_train_batch_size=3, learning_rate=1e-2,
                             num_train_epochs=2, save_strategy="no", report_to=[], remove_unused_columns=False, use_cpu=True)
    trainer = ReplayDistillTrainer(model=model, args=args, train_dataset=build_examples(cfg, family, tokenizer),
                                   data_collator=ReplayCollator(tokenizer.pad_token_id))
    trainer.train()
    start = trainer.start_model.state_dict()
    assert all(torch.equal(start[name], value) for name, value in before.items())
    assert any(not torch.equal(model.state_dict()[name], value) for name, value in before.items())
