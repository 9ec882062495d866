"""Bad input: each is refused with exactly one `error:` line on stderr that names the fix, a
non-zero exit code, no traceback, and nothing left behind that looks like a finished output."""

import json
import shutil
import struct

import pytest

from causal_unlearn.core.embedded import embedded_model_dir
from helpers import ARTIFACT, reference_teacher, run_cli

FAST = ["model_family=tiny-random", "teacher.N=2", "num_epochs=1", "max_length=64", "eval_after_training=false"]
FINISHED = ("forget_done.json", "aggregate_stat.csv", "*.teacher.safetensors")
ROWS = [{"title": "Ada Quill", "wikipage": "Ada Quill (born 1950) is a potter from Tessaly. Quill opened a studio.",
         "question": "Where is Ada Quill from?", "answer": "Tessaly."}]


def grad_ascent(cli):
    """forget.py with a method that needs no teacher artifact; teacher.py as it is."""
    return ["forget_loss=grad_ascent"] if cli == "forget.py" else []


def forget(root, *extra):
    return run_cli("forget.py", *FAST, f"save_dir_root={root}", *extra)


def teacher(root, *extra):
    return run_cli("teacher.py", *FAST, f"save_dir_root={root}", *extra)


def assert_refused(result, root, *fix, keep=()):
    """One `error:` line holding every string of `fix`; no traceback; no finished output under root
    (except the inputs in `keep`)."""
    assert result.returncode != 0, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-3000:]
    for text in fix:
        assert text in errors[0], errors[0]
    assert "Traceback" not in result.stderr and "HYDRA_FULL_ERROR" not in result.stderr, result.stderr[-3000:]
    left = [path for pattern in FINISHED for path in root.rglob(pattern) if path not in keep]
    assert not left, f"looks finished: {left}"


def data_folder(tmp_path, forget_bytes: bytes):
    """A data folder whose forget split `forget_x` holds exactly `forget_bytes`."""
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "forget_x.json").write_bytes(forget_bytes)
    return folder


def rows_bytes(rows) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


@pytest.fixture(scope="module")
def built_teacher(tmp_path_factory):
    return reference_teacher(tmp_path_factory) / ARTIFACT  # valid for FAST too: the artifact ignores epochs and lr


def header_length(data: bytes) -> int:
    return struct.unpack("<Q", data[:8])[0]


DAMAGE = {
    # cut inside the tensor data: the header (and so the metadata) still reads
    "truncated_in_data": lambda data: data[:-50],
    # cut inside the header
    "truncated_in_header": lambda data: data[:8 + header_length(data) // 2],
    # a value in the header changed (teacher.N 2 -> 3): valid JSON, wrong content
    "tampered_header_value": lambda data: data.replace(b'\\"N\\": 2', b'\\"N\\": 3', 1),
    # a byte of the header's JSON syntax changed
    "tampered_header_syntax": lambda data: data[:8] + b"[" + data[9:],
}


@pytest.mark.parametrize("damage", [
    "truncated_in_data",
    pytest.param("truncated_in_header", marks=pytest.mark.slow),
    "tampered_header_value",
    pytest.param("tampered_header_syntax", marks=pytest.mark.slow),
])
def test_damaged_teacher_artifact(built_teacher, tmp_path, damage):
    artifact = tmp_path / ARTIFACT
    artifact.parent.mkdir(parents=True)
    original = built_teacher.read_bytes()
    damaged = DAMAGE[damage](original)
    assert damaged != original
    artifact.write_bytes(damaged)
    result = forget(tmp_path)
    assert_refused(result, tmp_path, str(artifact), "teacher.py", keep={artifact})


# forget.py costs ~8 s just to import, teacher.py ~3 s: the forget.py variants of checks both
# CLIs share run with -m slow, so the default run stays short.
TEACHER_AND_SLOW_FORGET = ["teacher.py", pytest.param("forget.py", marks=pytest.mark.slow)]


@pytest.mark.parametrize("cli", TEACHER_AND_SLOW_FORGET)
def test_model_folder_without_weights(tmp_path, cli):
    model = tmp_path / "no_weights"
    model.mkdir()
    shutil.copy(embedded_model_dir("tiny-random") / "config.json", model / "config.json")
    result = run_cli(cli, *FAST, f"save_dir_root={tmp_path / 'out'}", *grad_ascent(cli), f"model_path={model}")
    assert_refused(result, tmp_path, "model_path", str(model))


@pytest.mark.parametrize("cli, override, key", [
    ("forget.py", "lr=abc", "lr"),
    ("teacher.py", "teacher.N=five", "teacher.N"),
    ("forget.py", "num_epochs=-1", "num_epochs"),
])
def test_config_value_of_the_wrong_type_or_range(tmp_path, cli, override, key):
    result = run_cli(cli, *FAST, f"save_dir_root={tmp_path}", *grad_ascent(cli), override)
    assert_refused(result, tmp_path, f"{key}=", f"set {key} to")
    assert not list(tmp_path.rglob("*"))  # refused before anything was written


def test_split_name_typo(tmp_path):
    result = forget(tmp_path, "split=forget_2_x")  # forget_loss=intervention: checked before the teacher lookup
    assert_refused(result, tmp_path, "Unknown split 'forget_2_x'", "Available: forget_2_1")


def test_document_without_the_targets_name(tmp_path):
    rows = [{**ROWS[0], "wikipage": "A town with a river and a mill. It grew fast in the last century."}]
    data = data_folder(tmp_path, rows_bytes(rows))
    result = teacher(tmp_path / "out", f"data_path={data}", "split=forget_x")
    assert_refused(result, tmp_path, "never mentions the name", "check the title")


@pytest.mark.parametrize("cli", TEACHER_AND_SLOW_FORGET)
def test_empty_forget_file(tmp_path, cli):
    data = data_folder(tmp_path, b"")
    result = run_cli(cli, *FAST, f"save_dir_root={tmp_path / 'out'}", f"data_path={data}", "split=forget_x")
    assert_refused(result, tmp_path, "'forget_x' is empty")


@pytest.mark.parametrize("cli", TEACHER_AND_SLOW_FORGET)
def test_forget_file_that_is_not_utf8(tmp_path, cli):
    rows = [{**ROWS[0], "wikipage": "Zoë Quill (born 1950) is a potter. Ada Quill opened a café."}]
    data = data_folder(tmp_path, rows_bytes(rows).decode().encode("latin-1"))
    result = run_cli(cli, *FAST, f"save_dir_root={tmp_path / 'out'}", f"data_path={data}", "split=forget_x")
    assert_refused(result, tmp_path, "forget_x.json is not valid UTF-8", "re-save it as UTF-8")


def unwritable_root(tmp_path, kind):
    if kind == "read_only_folder":
        folder = tmp_path / "read_only"
        folder.mkdir()
        folder.chmod(0o555)
        try:
            (folder / "probe").touch()
        except PermissionError:
            return folder
        (folder / "probe").unlink()
        folder.chmod(0o755)
        pytest.skip("chmod does not stop this user from writing (running as root); "
                    "the below_a_file case covers the same check")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    return blocker / "out"


@pytest.mark.parametrize("kind", ["read_only_folder", "below_a_file"])
@pytest.mark.parametrize("cli", TEACHER_AND_SLOW_FORGET)
def test_save_dir_that_cannot_be_written(tmp_path, cli, kind):
    root = unwritable_root(tmp_path, kind)
    try:
        result = run_cli(cli, *FAST, f"save_dir_root={root}", *grad_ascent(cli))
    finally:
        if kind == "read_only_folder":
            root.chmod(0o755)
    assert_refused(result, tmp_path, str(root), "writable folder")
