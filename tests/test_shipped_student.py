"""The student in ``weights/``: small, safe to load, made by ``distill`` on the distillation
corpus only, and what ``eco-student`` picks up when no file is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cftrack_cli.nets.weights import load_student
from cftrack_cli.trackers.networks import STUDENT_ENV, default_student_path

SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "cftrack_student.pth"


def test_shipped_student_is_small_and_says_how_it_was_made():
    assert SHIPPED.stat().st_size <= 2 * 1024 * 1024
    net, meta = load_student(SHIPPED)
    training = meta["training"]
    assert training["command"].startswith("cftrack distill")
    # Distilled from the VGG16 teacher on the distillation corpus, never on evaluation data.
    assert meta["teacher"]["name"] == "vgg16"
    assert training["data_paths"] and all(Path(p).name == "distill" for p in training["data_paths"])
    assert not any("sequences" in Path(p).parts for p in training["data_paths"])
    assert {"conv3_3", "conv5_3"} <= set(net.taps)


def test_eco_student_defaults_to_the_shipped_file(monkeypatch):
    monkeypatch.delenv(STUDENT_ENV, raising=False)
    assert default_student_path() == SHIPPED


def test_the_environment_variable_names_another_student(monkeypatch, tmp_path):
    other = tmp_path / "other.pth"
    monkeypatch.setenv(STUDENT_ENV, str(other))
    assert default_student_path() == other


def test_the_package_links_to_the_shipped_folder_so_wheels_carry_it():
    import cftrack_cli

    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    link = Path(cftrack_cli.__file__).resolve().parent / "weights"
    assert link.resolve() == SHIPPED.parent
    pyproject = tomllib.loads((SHIPPED.parents[1] / "pyproject.toml").read_text())
    assert "weights/*.pth" in pyproject["tool"]["setuptools"]["package-data"]["cftrack_cli"]
