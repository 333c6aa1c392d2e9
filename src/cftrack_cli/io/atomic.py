"""Write-then-rename, so an interrupted run never leaves a file that looks complete.

Outputs that are not regular files (a named pipe, ``/dev/null``, a socket) are the exception:
they are written to in place, never renamed over, whatever ``--overwrite`` says.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from cftrack_cli.errors import CftrackError, UsageError


def is_stream(path: Path) -> bool:
    """A pipe, character device or socket (links followed): written to, never replaced."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISSOCK(mode)


def partial_path(final: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = partial_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:  # a full disk or a vanished folder: one line, not a traceback
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise CftrackError(f"{path}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_writable_dir(folder: Path) -> Path:
    """Create ``folder`` if needed and check we can write there; a one-line error otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{folder}: cannot create the output folder ({exc.strerror})") from None
    if not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{folder}: the output folder is not writable")
    return folder


def check_output_file(path: Path, option: str, overwrite: bool) -> None:
    """Before any work: ``path`` (given with ``option``) can be written as a new file, or
    replaced with ``--overwrite``; otherwise a one-line :class:`UsageError`."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a folder; give a file name")
    ensure_writable_dir(path.parent)
    refuse_existing([path], overwrite)


def refuse_existing(paths: Iterable[Path | None], overwrite: bool) -> None:
    """A one-line error naming the first output that already exists, unless ``--overwrite``.

    Checked before any work, so a rerun never silently replaces a finished result. A stream
    (:func:`is_stream`) is not in the way: it is written to, not replaced.
    """
    if overwrite:
        return
    for path in paths:
        if path is not None and path.exists() and not is_stream(path):
            raise UsageError(f"{path}: already exists; pass --overwrite to replace it")
