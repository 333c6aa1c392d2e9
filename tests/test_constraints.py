"""benchmarks/constraints.txt: the versions the docs' figures were measured with."""

from __future__ import annotations

from importlib.metadata import requires
from pathlib import Path

from packaging.requirements import Requirement

CONSTRAINTS = Path(__file__).resolve().parents[1] / "benchmarks" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            req = Requirement(line)
            (spec,) = req.specifier
            assert spec.operator == "==", f"{line}: a constraint for a figure pins one version"
            pins[req.name] = spec.version
    return pins


def test_every_pin_is_a_dependency_and_satisfies_its_declared_range():
    declared = {
        r.name: r.specifier for r in map(Requirement, requires("cftrack") or []) if not r.marker
    }
    pins = _pins()
    assert {"numpy", "torch", "opencv-contrib-python-headless"} <= pins.keys()
    for name, version in pins.items():
        assert name in declared, f"{name} is pinned but cftrack does not depend on it"
        assert declared[name].contains(version), f"{name}=={version} is outside {declared[name]}"
