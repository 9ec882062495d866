"""teacher.py launched as several processes writes the same artifact (and preview) as one process."""

from helpers import run_cli

# The retain split has four persons: dealt over 3 processes as (0, 3), (1), (2), so chunks
# gathered in process order would come out of order.
ARTIFACT = ("tiny-random", "intervention", "retain_2_True_True.teacher.safetensors")
SETTINGS = ("model_family=tiny-random", "teacher.N=2", "split=retain")


def test_sharded_teacher_equals_single_process(tmp_path):
    processes = 3
    single = run_cli("teacher.py", *SETTINGS, f"save_dir_root={tmp_path / 'one'}")
    assert single.returncode == 0, single.stderr[-2000:]
    sharded = run_cli("-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_port=29731",
                      "teacher.py", *SETTINGS, f"save_dir_root={tmp_path / 'many'}", env={"OMP_NUM_THREADS": "1"})
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    assert f"of {processes} builds" in sharded.stdout + sharded.stderr
    one, many = tmp_path.joinpath("one", *ARTIFACT), tmp_path.joinpath("many", *ARTIFACT)
    assert one.read_bytes() == many.read_bytes()
    preview = ARTIFACT[-1].replace(".teacher.safetensors", ".preview.json")
    assert (one.parent / preview).read_bytes() == (many.parent / preview).read_bytes()
    assert not [p for p in many.parent.iterdir() if p.name not in (many.name, preview)]  # no part files left behind
