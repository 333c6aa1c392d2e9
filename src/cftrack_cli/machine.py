"""The machine a figure came from: CPU model, vector extensions, cache, load, library versions.

Two hosts, or two releases of numpy, OpenCV or torch, run other kernels and so give other last
bits; on knife-edge sequences those tip a tracker's AUC by a few hundredths. Every command that
records figures (``bench``, ``eval``, the benchmark scripts) says which machine made them.
"""

from __future__ import annotations

import functools
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# The vector extensions that decide which kernels numpy, OpenBLAS, torch and OpenCV run: two
# hosts with the same model name but other extensions give other speeds and other last bits.
VECTOR_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def read_cpuinfo(path: str | Path = "/proc/cpuinfo") -> tuple[str, list[str]]:
    """The first CPU's model name and which of :data:`VECTOR_FLAGS` it has ("", [] if unknown)."""
    model, flags = "", None
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and not model:
                    model = value.strip()
                elif key == "flags" and flags is None:
                    have = set(value.split())
                    flags = [f for f in VECTOR_FLAGS if f in have]
                if model and flags is not None:  # the first CPU speaks for all
                    break
    except OSError:
        pass
    return model, flags or []


def last_level_cache(cpu: int = 0, root: str | Path = "/sys/devices/system/cpu") -> str:
    """The size of the highest cache level that ``cpu`` sees, as the kernel writes it
    (e.g. "491520K"); "" where the kernel does not say."""
    best_level, size = 0, ""
    for entry in sorted(Path(root, f"cpu{cpu}", "cache").glob("index*")):
        try:
            level = int((entry / "level").read_text().strip())
            text = (entry / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if level > best_level:
            best_level, size = level, text
    return size


def machine_info(cores: Sequence[int]) -> dict[str, Any]:
    """What a reader needs to compare numbers across machines, and how busy this one was:
    call it before timing, so that ``load_average`` (the 1-minute figure) is the host's."""
    import torch

    model, flags = read_cpuinfo()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu": model or platform.processor() or platform.machine(),
        "vector_flags": flags,
        "last_level_cache": last_level_cache(cores[0] if cores else 0),
        "load_average": load,
        "cores_used": list(cores),
        "cores_total": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "torch_threads": torch.get_num_threads(),
    }


def _readable_size(text: str) -> str:
    """The kernel's "491520K" as "480 MiB"; anything else as it is."""
    if text.endswith("K") and text[:-1].isdigit() and int(text[:-1]) >= 1024:
        return f"{int(text[:-1]) / 1024:g} MiB"
    return text


def describe_machine(machine: dict[str, Any]) -> str:
    """One line for the top of a report: model, extensions, cache, load."""
    parts = []
    if machine.get("vector_flags"):
        parts.append(", ".join(machine["vector_flags"]))
    if machine.get("last_level_cache"):
        parts.append(f"cache {_readable_size(machine['last_level_cache'])}")
    if machine.get("load_average") is not None:
        parts.append(f"load {machine['load_average']:.2f}")
    return f"{machine['cpu']} ({'; '.join(parts)})" if parts else machine["cpu"]


# What decides the last bits of a tracker's arithmetic, hence its boxes: the CPU's kernels and
# the libraries' releases. Load, cores and thread counts change the speed, not the boxes.
BASIS_KEYS = ("cpu", "vector_flags", "numpy", "opencv", "torch")


def arithmetic_basis(info: dict[str, Any] | None = None) -> dict[str, Any]:
    """The :data:`BASIS_KEYS` of ``info`` (a :func:`machine_info`), by default this process's
    machine: equal bases give equal boxes."""
    info = info if info is not None else _this_basis()
    return {key: info[key] for key in BASIS_KEYS}


@functools.cache
def _this_basis() -> dict[str, Any]:
    # Read once per process: eval records it with every sequence it tracks.
    return arithmetic_basis(machine_info([]))


def describe_libraries(info: dict[str, Any]) -> str:
    """``numpy 2.4.6, OpenCV 5.0.0, torch 2.13.0+cpu`` from a basis or a :func:`machine_info`."""
    return ", ".join(
        f"{label} {info.get(key) or '?'}"
        for label, key in (("numpy", "numpy"), ("OpenCV", "opencv"), ("torch", "torch"))
    )


def describe_basis(basis: dict[str, Any]) -> str:
    """One line: ``AMD EPYC (avx2, avx512f); numpy 2.4.6, OpenCV 5.0.0, torch 2.13.0+cpu``."""
    flags = ", ".join(basis.get("vector_flags") or [])
    cpu = str(basis.get("cpu") or "unknown CPU")
    return (f"{cpu} ({flags}); " if flags else f"{cpu}; ") + describe_libraries(basis)
