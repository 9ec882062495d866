"""eval_gpt.py, the LLM judge, as a user runs it: against a live local server (with its cache), and
with no judge configured."""

import json
import socket
import subprocess
import time
import urllib.request

import pandas as pd
import pytest

from helpers import REPO, run_cli


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def judge_server(tmp_path_factory):
    """`transformers serve` on 127.0.0.1 serving the tiny model (a real OpenAI-compatible server)."""
    from causal_unlearn.core.embedded import embedded_model_dir

    model = str(embedded_model_dir("tiny-random"))
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    handle = log.open("w")
    server = subprocess.Popen([str(REPO / ".venv" / "bin" / "transformers"), "serve", "--host", "127.0.0.1",
                               "--port", str(port), model], stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
            break
        except OSError:
            assert server.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
    yield {"url": f"http://127.0.0.1:{port}/v1", "model": model, "log": log}
    server.terminate()
    server.wait(timeout=30)
    handle.close()


def _requests_served(log) -> int:
    return log.read_text().count("POST /v1/chat/completions")


def test_judge_against_a_live_server_and_cache(tmp_path, judge_server):
    eval_dir = tmp_path / "eval"
    evaluated = run_cli("evaluate_util.py", "model_family=tiny-random", f"eval.save_dir={eval_dir}", "eval.ds_size=2",
                        "eval.generation.max_new_tokens=4")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    args = ["eval_gpt.py", "model_family=tiny-random", f"eval_dir={eval_dir}", "eval.ds_size=2",
            f"judge.base_url={judge_server['url']}", f"judge.model={judge_server['model']}", "judge.max_tokens=8",
            f"judge.cache_dir={tmp_path / 'cache'}", "judge.api_key_env=null"]
    before = _requests_served(judge_server["log"])
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    sent = _requests_served(judge_server["log"]) - before
    assert sent >= 8  # 2 forget items x 3 judges + 2 hard-retain items, plus parse retries
    scores = json.loads((eval_dir / "gpt_score.json").read_text())
    assert len(scores["forget_privacy"]) == 2 and all("reply" in r for r in scores["forget_privacy"])
    table = pd.read_csv(eval_dir / "aggregate_stat.csv")
    assert {"Forget GPT privacy score", "Reject rate", "In Passage Quality", "Unique n-grams"} <= set(table.columns)
    second = run_cli(*args)
    assert second.returncode == 0 and "0 requests sent" in second.stdout + second.stderr
    assert _requests_served(judge_server["log"]) - before == sent  # the cache answered everything


def test_no_judge_configured_leaves_columns_empty(tmp_path, monkeypatch):
    eval_dir = tmp_path / "eval"
    assert run_cli("evaluate_util.py", "model_family=tiny-random", f"eval.save_dir={eval_dir}", "eval.ds_size=1",
                   "eval.generation.max_new_tokens=4").returncode == 0
    result = run_cli("eval_gpt.py", "model_family=tiny-random", f"eval_dir={eval_dir}", env={"OPENAI_API_KEY": ""})
    assert result.returncode == 0 and "no judge" in result.stdout + result.stderr
    table = pd.read_csv(eval_dir / "aggregate_stat.csv")
    assert table["Forget GPT privacy score"].isna().all() and "Unique n-grams" in table.columns
