"""The student weights file: a state dict plus the metadata needed to rebuild and trust it.

Layout (a ``torch.save``'d dict, loaded with ``weights_only=True``)::

    {"format": "cftrack-student", "format_version": 1,
     "state_dict": {"conv1.weight": ..., ...},            # float32
     "meta": {
        "architecture": {"name": ..., "spec": [layer dicts], "in_channels": 3},
        "width": 0.125,                                   # channel multiplier, or None
        "taps": [{"name", "channels", "stride", "offset", "receptive_field"}, ...],
        "preprocessing": {"name", "mean", "std", "scale", "mean_image"},
        "teacher": {"name", "weights_file", "sha256_prefix", ...} or None,
        "training": {"settings": {...}, "data": "..."} or None,
        "created": "2025-01-31T12:00:00+00:00", "code_version": "0.1.0",
        "metrics": {...}, ...}}

:func:`load_student` also reads the paper authors' converted CF-VGGM file.
"""

from __future__ import annotations

import datetime as _dt
import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from cftrack_cli import __version__
from cftrack_cli.errors import UsageError
from cftrack_cli.nets.cf_vggm import cf_vggm_from_checkpoint, is_cf_vggm_checkpoint
from cftrack_cli.nets.checkpoint import read_checkpoint, write_checkpoint
from cftrack_cli.nets.layers import TapInfo
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.student import StudentNet, count_macs, count_parameters

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "describe_student",
    "load_student",
    "save_student",
    "state_dict_bytes",
    "student_metadata",
]

FORMAT = "cftrack-student"
FORMAT_VERSION = 1


def _taps_record(taps: Mapping[str, TapInfo]) -> list[dict[str, Any]]:
    return [t.as_dict() for t in taps.values()]


def student_metadata(
    net: StudentNet,
    *,
    preprocessing: Preprocessing | None = None,
    name: str = "vgg16-student",
    width: float | None = None,
    teacher: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    metrics: Mapping[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The metadata record of a student (see the module notes); ``extra`` keys are kept.

    ``preprocessing`` defaults to ``net.preprocessing``; one of them must be set.
    """
    prep = preprocessing or net.preprocessing
    if prep is None:
        raise ValueError("a student file must record its preprocessing; none given or set")
    return {
        "architecture": {"name": name, "spec": net.spec, "in_channels": net.in_channels},
        "width": width,
        "taps": _taps_record(net.taps),
        "preprocessing": prep.to_dict(),
        "teacher": dict(teacher) if teacher is not None else None,
        "training": dict(training) if training is not None else None,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "code_version": __version__,
        "metrics": dict(metrics or {}),
        **extra,
    }


def save_student(
    path: str | os.PathLike[str], net: StudentNet, meta: Mapping[str, Any] | None = None
) -> Path:
    """Write ``net`` and its metadata to ``path`` atomically (temporary name, then rename).

    ``meta`` is merged over :func:`student_metadata`'s defaults; ``architecture`` and ``taps``
    always describe ``net`` itself, and a :class:`Preprocessing` value is stored as its dict.
    Raises ValueError when no preprocessing is known or the metadata is not weights-only
    loadable (e.g. holds a numpy array), :class:`CftrackError` when the file cannot be written.
    """
    given = dict(meta or {})
    prep = given.pop("preprocessing", None)
    if isinstance(prep, Mapping):
        prep = Preprocessing.from_dict(prep)
    arch_name = (given.get("architecture") or {}).get("name", "vgg16-student")
    record = student_metadata(net, preprocessing=prep, name=arch_name)
    record.update({k: v for k, v in given.items() if k not in ("architecture", "taps")})
    state = {k: v.detach().to(torch.float32).clone() for k, v in net.state_dict().items()}
    obj = {"format": FORMAT, "format_version": FORMAT_VERSION, "state_dict": state, "meta": record}
    return write_checkpoint(obj, path)


def load_student(path: str | os.PathLike[str]) -> tuple[StudentNet, dict[str, Any]]:
    """Load a student file (or the CF-VGGM file): (network in eval mode, metadata).

    The network's ``preprocessing`` is set from the metadata. Raises :class:`UsageError` with
    one line for a missing, corrupt, unsafe, unknown-version or mismatched file.
    """
    p = Path(path).expanduser()
    obj = read_checkpoint(p, "student weights")
    if is_cf_vggm_checkpoint(obj):
        return cf_vggm_from_checkpoint(obj, p)
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        if (
            isinstance(obj, Mapping)
            and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            raise UsageError(
                f"{p}: a bare state dict without cftrack's metadata (architecture, "
                "preprocessing); save students with cftrack (nets.weights.save_student)"
            )
        raise UsageError(f"{p}: not a cftrack student weights file")
    version = obj.get("format_version")
    if version != FORMAT_VERSION:
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise UsageError(
                f"{p}: student file format version {version} is newer than this cftrack "
                f"reads ({FORMAT_VERSION}); update cftrack"
            )
        raise UsageError(f"{p}: unknown student file format version {version!r}")
    meta, state = obj.get("meta"), obj.get("state_dict")
    if not isinstance(meta, Mapping) or not isinstance(state, Mapping):
        raise UsageError(f"{p}: student file lacks its 'meta' or 'state_dict'")
    try:
        arch = meta["architecture"]
        net = StudentNet(arch["spec"], int(arch.get("in_channels", 3)))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{p}: bad architecture in the student file ({exc})") from None
    _check_state(net, state, p)
    net.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    net.eval().requires_grad_(False)
    try:
        net.preprocessing = Preprocessing.from_dict(meta.get("preprocessing"))
    except ValueError as exc:
        raise UsageError(f"{p}: bad preprocessing in the student file ({exc})") from None
    return net, dict(meta)


def _check_state(net: StudentNet, state: Mapping[str, Any], path: Path) -> None:
    expected = net.state_dict()

    def listing(keys: list[str]) -> str:
        return ", ".join(keys[:4]) + (" ..." if len(keys) > 4 else "")

    missing = [k for k in expected if k not in state]
    unexpected = [str(k) for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(getattr(state[k], 'shape', ()))} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and (not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape)
    ]
    problems = [
        f"{what} {listing(keys)}"
        for what, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong))
        if keys
    ]
    if problems:
        raise UsageError(
            f"{path}: weights do not match the recorded architecture: {'; '.join(problems)}"
        )


def state_dict_bytes(net: torch.nn.Module) -> int:
    """Size in bytes of the network's float32 weights as ``torch.save`` writes them."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().to(torch.float32) for k, v in net.state_dict().items()}, buffer)
    return buffer.tell()


def describe_student(net: StudentNet, input_hw: tuple[int, int] = (200, 200)) -> dict[str, Any]:
    """Parameters, multiply-adds at ``input_hw`` and weights size: what reports print."""
    return {
        "parameters": count_parameters(net),
        "macs": count_macs(net, input_hw),
        "input_hw": list(input_hw),
        "weights_bytes": state_dict_bytes(net),
        "taps": _taps_record(net.taps),
    }
