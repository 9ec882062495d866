"""Processes of a `torch.distributed.run` launch: who this process is, and the process group.

Without a launcher (no WORLD_SIZE) every process is the only one and everything here is a no-op.
"""

import os


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def world_size() -> int:
    return rank_and_world()[1]


def is_main_process() -> bool:
    return rank_and_world()[0] == 0


def start_processes() -> None:
    """Join the launch's process group (gloo: works on CPU and beside NCCL on GPUs) and pick this
    process's GPU, so k processes use k GPUs instead of all loading onto the first."""
    import torch
    import torch.distributed as dist

    rank, world = rank_and_world()
    if world == 1 or dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
    dist.init_process_group(backend="gloo", rank=rank, world_size=world)


def gather_on_main(items: list) -> list[list] | None:
    """Every process's items on the main process (None elsewhere); [items] when not launched."""
    import torch.distributed as dist

    rank, world = rank_and_world()
    if world == 1:
        return [items]
    shares = [None] * world if rank == 0 else None
    dist.gather_object(items, shares, dst=0)
    # The other ranks' sends can finish before rank 0 has received everything; tearing the group
    # down then aborted a rank now and then ("terminate called without an active exception").
    dist.barrier()
    return shares


def finish_processes() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def set_single_process_world() -> None:
    """DeepSpeed always joins a process group. Started by plain `python` (no torchrun), it would
    look for MPI instead; a world of one on this machine is what the user meant."""
    import socket

    if "WORLD_SIZE" in os.environ:
        return
    with socket.socket() as probe:  # a port nobody holds, so two runs on one machine do not clash
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
