"""One direction of imports: the inference side never imports the training or CLI packages."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cftrack_cli"
# What each layer may not import (cli -> (evaluation, bench, distill, trackers, io) ->
# features -> nets, cf).
FORBIDDEN = {
    "trackers": ("cli", "distill", "evaluation", "bench"),
    "features": ("cli", "distill", "evaluation", "bench", "trackers"),
    "nets": ("cli", "distill", "evaluation", "bench", "trackers", "features"),
    "cf": ("cli", "distill", "evaluation", "bench", "trackers", "features", "nets"),
    "evaluation": ("cli",),
    "distill": ("cli",),
}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_imports(package):
    bad = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "cftrack_cli" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)
