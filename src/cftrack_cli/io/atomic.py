"""Write-then-rename, so an interrupted run never leaves a file that looks complete."""

from __future__ import annotations

import os
from pathlib import Path

from cftrack_cli.errors import UsageError


def partial_path(final: Path) -> Path:
    """The temporary name a file is written under until it is complete."""
    return final.with_name(f".{final.stem}.partial{final.suffix}")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = partial_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
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
