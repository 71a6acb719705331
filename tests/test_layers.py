"""The package's imports point down only: a module imports from its own layer or the ones below.

Every import counts, those inside functions too (a lazy import still couples the modules).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "synesthesia"
# Lowest first. A module is in the layer of its longest listed prefix.
LAYERS = (
    # facts and plumbing that know no stage
    ("versions", "logs", "images", "gpu", "slurm", "records", "resampling", "caches", "lbfgs", "deployment",
     "ranking"),
    ("config", "store", "data.tables", "glue"),
    # data preparation and model loading
    ("data", "models"),
    # the stages that compute
    ("embed", "align", "similarity", "factors", "probe", "finetune", "sts", "association", "t2i"),
    # tables, figures and the report
    ("report", "paper_tables", "figures"),
    # what users run
    ("plan", "prefetch", "html_report", "__main__"),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    matches = [(len(prefix), index) for index, names in enumerate(LAYERS) for prefix in names
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"synesthesia.{module} is in no layer of tests/test_layers.py: add it to LAYERS"
    return max(matches)[1]


def imported_modules(path: Path) -> set[str]:
    """The package modules ``path`` imports (``from . import x`` counts as module ``x``)."""
    module = module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").startswith("synesthesia"):
                target = node.module.removeprefix("synesthesia").lstrip(".")
            else:
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}" if target else alias.name
                is_module = (PACKAGE / f"{candidate.replace('.', '/')}.py").exists() or \
                    (PACKAGE / candidate.replace(".", "/")).is_dir()
                found.add(candidate if is_module else target)
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("synesthesia.") for a in node.names if a.name.startswith("synesthesia.")}
    return {name for name in found if name and name != module}


def import_graph() -> dict[str, set[str]]:
    return {module_name(path): imported_modules(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_points_to_the_same_layer_or_below():
    upward = [f"synesthesia.{module} (layer {layer_of(module)}) imports synesthesia.{target} "
              f"(layer {layer_of(target)})"
              for module, targets in import_graph().items() for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph = import_graph()
    cycles, state = [], {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(" -> ".join(trail[trail.index(target):] + [module, target]) if target in trail
                              else f"{module} -> {target}")
            elif target not in state:
                visit(target, trail + [module])
        state[module] = "done"

    for module in graph:
        if module not in state:
            visit(module, [])
    assert not cycles, "\n".join(cycles)


def test_no_module_imports_a_private_name_of_another():
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("synesthesia")):
                private += [f"synesthesia.{module_name(path)}: {alias.name} from {node.module or '.'}"
                            for alias in node.names if alias.name.startswith("_")]
    assert not private, "\n".join(private)
