"""The frontier grid's plan (causal_unlearn/eval/frontier_grid.py): which jobs, with which settings."""

import json

import pytest
from omegaconf import OmegaConf

from causal_unlearn.core.configs import compose_config, validate
from causal_unlearn.core.errors import UserError
from causal_unlearn.eval.frontier_grid import plan


def _settings(config="frontier_mini", **changes):
    settings = compose_config(config, []).frontier
    settings.implant_dir = "/models/implant"
    settings.out_dir = "/out"
    for key, value in changes.items():
        OmegaConf.update(settings, key, value)
    return settings


def test_every_method_seed_and_split_is_one_training_job_and_teachers_are_shared():
    first, training = plan(_settings(), cores=2)
    settings = _settings()
    assert len(training) == len(settings.methods) * len(settings.seeds) * len(settings.splits)
    kinds = [job.kind for job in first]
    # One reference per split; one teacher per split, seed and teacher kind (intervention's N=10 is
    # shared by intervention and intervention_retain, whp has its own).
    assert kinds.count("reference") == 2 and kinds.count("teacher") == 2 * 2 * 2
    job = next(j for j in training if j.meta == {"method": "npo", "seed": 2, "split": "forget_2_2", "attack": False})
    assert "eval.other_persons_split=forget_2_1" in job.overrides and "lr=2e-4" in job.overrides
    assert f"save_dir={job.run_dir}" in job.overrides and job.run_dir.as_posix() == "/out/runs/npo/2_forget_2_2"
    assert any(o.startswith("save_dir_root=/out/teachers/seed2") for o in job.overrides)
    assert job.threads == 1
    # Both attacks on the attack seeds' runs and on the references; none without attack seeds.
    assert {j.meta["seed"] for j in training if j.meta["attack"]} == set(settings.attack_seeds)
    assert all(j.meta["attack"] for j in first if j.kind == "reference")
    first, training = plan(_settings(attack_seeds=[]), cores=2)
    assert not any(j.meta.get("attack") for j in first + training)


def test_the_gpu_grid_plans_the_papers_model_and_every_job_composes_with_its_stage_config():
    settings = _settings("frontier_wpu")
    assert settings.implant_config is None and settings.stage_config == "forget_wpu.yaml"
    first, training = plan(settings, cores=8)
    assert len(training) == len(settings.methods) * len(settings.seeds) * len(settings.splits)
    # Nothing is implanted: the reference rows and every run start from the hub model itself.
    assert all(f"model_path={settings.implant_dir}" in job.overrides for job in first + training)
    for job in first + training:
        stage = compose_config(settings.stage_config, job.overrides)
        validate(stage)
        assert stage.model_family == "llama2-7b"
    # The paper's learning rates: 1e-5 for the teacher methods, 4e-5 with a retain term.
    lrs = {job.meta["method"]: next(o for o in job.overrides if o.startswith("lr=")) for job in training}
    assert lrs["intervention"] == "lr=1e-5" and lrs["npo"] == "lr=4e-5"


def test_only_picks_methods_and_names_an_unknown_one():
    _, training = plan(_settings(only=["intervention", "npo"]), cores=2)
    assert {job.meta["method"] for job in training} == {"intervention", "npo"}
    with pytest.raises(UserError, match="frontier.only names 'nope'"):
        plan(_settings(only=["nope"]), cores=2)


def test_one_split_has_no_other_persons_and_says_so():
    with pytest.raises(UserError, match="at least two forget splits"):
        plan(_settings(splits=["forget_2_1"]), cores=2)


def test_a_failing_job_ends_with_one_error_naming_its_log_and_writes_no_record(tmp_path):
    from causal_unlearn.eval.frontier_grid import JOB_RECORD, Job, run_training_job

    settings = _settings(out_dir=str(tmp_path))
    settings.implant_dir = str(tmp_path / "no-implant")
    job = Job("train", "broken", tmp_path / "runs" / "broken", ["forget_loss=no_such_method"])
    with pytest.raises(UserError, match=r"frontier job 'broken' failed .*train.log"):
        run_training_job(job, settings, None)
    assert not (job.run_dir / JOB_RECORD).exists()


@pytest.mark.parametrize("key, value, message", [("workers", 0, "frontier.workers must be a positive"),
                                                 ("seeds", [], "frontier.seeds must be a non-empty"),
                                                 ("match_at", [0.5, 1.5], "frontier.match_at holds"),
                                                 ("reference_method", "nope", "reference_method 'nope'"),
                                                 ("attack_seeds", ["one"], "frontier.attack_seeds must be")])
def test_bad_grid_settings_end_with_one_clear_error(key, value, message):
    with pytest.raises(UserError, match=message):
        plan(_settings(**{key: value}), cores=2)


def test_report_only_reads_the_methods_asked_for(tmp_path):
    from causal_unlearn.core.stage import write_record
    from causal_unlearn.eval.frontier_grid import FLOOR_LOG, JOB_RECORD, TASK_LOGS, finished_records

    settings = _settings(out_dir=str(tmp_path), only=["npo"])
    log = {"rougeL_recall": {"0": 1.0}, "answer_class": {"0": "reveals"}}
    for split in settings.splits:
        eval_dir = tmp_path / "implanted" / split / "eval"
        eval_dir.mkdir(parents=True)
        for name in [*TASK_LOGS.values(), FLOOR_LOG]:
            (eval_dir / name).write_text(json.dumps(log))
    for method in ("npo", "whp"):
        run_dir = tmp_path / "runs" / method / "1_forget_2_1"
        run_dir.mkdir(parents=True)
        write_record(run_dir / JOB_RECORD, "x", method=method, seed=1, split="forget_2_1", checkpoints=[])
    _, records = finished_records(settings)
    assert [r["method"] for r in records] == ["npo"]


def test_an_attacked_budget_scores_each_attack_gain_per_question(tmp_path):
    """eval_scores reads both attacks' per-question recalls where their outputs exist: the gain is the
    attack's recall minus the plain forget recall, question by question; unattacked folders have none."""
    from causal_unlearn.eval.frontier_grid import ATTACK_OUTPUTS, TASK_LOGS, eval_scores

    plain = {"0": 1.0, "1": 0.0, "2": 0.5}
    for name in TASK_LOGS.values():
        (tmp_path / name).write_text(json.dumps({"rougeL_recall": plain, "answer_class": {k: "reveals" for k in plain}}))
    assert not set(ATTACK_OUTPUTS) & set(eval_scores(tmp_path))
    (tmp_path / ATTACK_OUTPUTS["msj_gain"]).write_text(json.dumps({"rougeL_recall": [1.0, 1.0, 0.0]}))
    (tmp_path / ATTACK_OUTPUTS["embed_gain"]).write_text(json.dumps({"rougeL_recall": [1.0, 0.5, 0.5]}))
    scores = eval_scores(tmp_path)
    assert scores["msj_gain"] == [0.0, 1.0, -0.5] and scores["embed_gain"] == [0.0, 0.5, 0.0]
