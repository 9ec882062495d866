"""Spreading teacher construction over the processes of a `torch.distributed.run` launch.

Each process builds the teacher for its share of the targets (whole persons, so a person's
substitutes and chunks stay together), the main process gathers every share
(core/distributed.py) and puts the chunks back in the order a single process would have
produced, so the artifact is the same either way.
"""


def share_of(targets: list, rank: int, world: int) -> list:
    """This process's targets: persons dealt round-robin in order of first appearance."""
    persons = list(dict.fromkeys(target.title for target in targets))
    mine = {person for index, person in enumerate(persons) if index % world == rank}
    return [target for target in targets if target.title in mine]


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
