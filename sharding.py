"""Spreading teacher construction over the processes of a `torch.distributed.run` launch.

Each process builds the teacher for its share of the targets (whole persons, so a person's
substitutes and chunks stay together), the main process gathers every share and puts the chunks
back in the order a single process would have produced, so the artifact is the same either way.
Without a launcher (no WORLD_SIZE) everything here is a no-op.
"""

import os


def rank_and_world() -> tuple[int, int]:
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


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


def share_of(targets: list, rank: int, world: int) -> list:
    """This process's targets: persons dealt round-robin in order of first appearance."""
    persons = list(dict.fromkeys(target.title for target in targets))
    mine = {person for index, person in enumerate(persons) if index % world == rank}
    return [target for target in targets if target.title in mine]


def gather_on_main(chunks: list) -> list[list] | None:
    """Every process's chunks on the main process (None elsewhere); [chunks] when not launched."""
    import torch.distributed as dist

    rank, world = rank_and_world()
    if world == 1:
        return [chunks]
    shares = [None] * world if rank == 0 else None
    dist.gather_object(chunks, shares, dst=0)
    # The other ranks' sends can finish before rank 0 has received everything; tearing the group
    # down then aborted a rank now and then ("terminate called without an active exception").
    dist.barrier()
    return shares


def in_target_order(targets: list, shares: list[list]) -> list:
    """The gathered chunks in the order of `targets` (within a target, as built)."""
    by_target: dict[tuple[str, str], list] = {}
    for share in shares:
        for chunk in share:
            by_target.setdefault((chunk.target, chunk.key), []).append(chunk)
    ordered = []
    for target in targets:
        ordered += by_target.pop((target.title, target.key), [])
    return ordered


def finish_processes() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
