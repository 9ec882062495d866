"""The layout contract: the root holds only thin entry points, nothing in the package imports one,
and no package modules import each other in a cycle."""

import ast

from causal_unlearn.core.paths import repo_root

ROOT = repo_root()
PACKAGE = ROOT / "causal_unlearn"
ENTRY_POINTS = {"attacks.py", "forget.py", "teacher.py", "finetune.py", "evaluate_util.py", "eval_gpt.py", "msj_attack.py",
                "soft_embed_attack.py", "prompt_baseline.py", "aggregate_wpu.py", "aggregate_eval_tofu.py",
                "eval_checkpoints.py", "report.py", "frontier.py", "data_module.py", "dataloader.py", "utils.py"}
MAX_ENTRY_POINT_LINES = 60


def module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path) -> set[str]:
    """Every module an import statement in `path` names (at any depth: deferred imports count)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def package_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_root_holds_only_the_entry_points_and_they_are_thin():
    assert {p.name for p in ROOT.glob("*.py")} == ENTRY_POINTS
    for name in ENTRY_POINTS:
        lines = (ROOT / name).read_text().splitlines()
        assert len(lines) <= MAX_ENTRY_POINT_LINES, f"{name} has {len(lines)} lines: move its logic into the package"


def test_no_package_module_imports_an_entry_point():
    root_modules = {name.removesuffix(".py") for name in ENTRY_POINTS}
    for path in PACKAGE.rglob("*.py"):
        wrong = {m.split(".")[0] for m in imported_modules(path)} & root_modules
        assert not wrong, f"{path.relative_to(ROOT)} imports the entry point(s) {wrong}"


def test_no_import_cycle_among_package_modules():
    graph = package_graph()
    assert len(graph) > 40  # the walk found the package
    # A package's __init__ importing its own members is not a cycle between modules.
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, str] = {}

    def visit(module, path):
        state[module] = "open"
        for dependency in graph[module]:
            if state.get(dependency) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path + [module, dependency]))
            if dependency not in state:
                visit(dependency, path + [module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
