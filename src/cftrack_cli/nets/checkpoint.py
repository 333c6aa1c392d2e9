"""Reading and writing torch weight files safely: weights only, one-line errors, atomic writes.

Every weights file goes through :func:`read_checkpoint`, which always uses
``torch.load(..., map_location="cpu", weights_only=True)``: a file that needs arbitrary Python
objects to load (and could run code) is refused, never executed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import re
import secrets
import zipfile
from pathlib import Path
from typing import Any

import torch

from cftrack_cli.errors import CftrackError, UsageError

__all__ = ["file_sha256", "read_checkpoint", "write_checkpoint"]


def read_checkpoint(path: str | os.PathLike[str], what: str = "weights") -> Any:
    """The object stored in a torch file, loaded with ``weights_only=True`` onto the CPU.

    ``what`` names the file in messages ("teacher weights", "student weights"). Raises
    :class:`UsageError` (one line) for a missing, unreadable, corrupt or unsafe file.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise UsageError(f"{p}: no such {what} file")
    if p.is_dir():
        raise UsageError(f"{p}: is a folder, not a {what} file")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)
        if found or "Unsupported global" in text:
            name = found.group(1) if found else "a Python object"
            raise UsageError(
                f"{p}: not a plain weights file: it refers to {name}, which a weights-only "
                f"load refuses (it could run code); save a state_dict of tensors instead"
            ) from None
        raise UsageError(f"{p}: not a readable {what} file (corrupt or not a torch file)") from None
    except OSError as exc:
        # The OS refused (permissions, I/O error), not the format; but EINVAL is torch seeking
        # past the end of a cut file.
        if exc.strerror and exc.errno != errno.EINVAL:
            raise UsageError(f"{p}: cannot read the {what} file ({exc.strerror})") from None
        raise UsageError(f"{p}: not a readable {what} file (corrupt or truncated)") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, UnicodeDecodeError):
        # torch reports a truncated zip archive as RuntimeError, an empty file as EOFError.
        raise UsageError(f"{p}: not a readable {what} file (corrupt or truncated)") from None


def write_checkpoint(obj: Any, path: str | os.PathLike[str]) -> Path:
    """``torch.save`` to a temporary name beside ``path``, check it loads, then rename.

    An interrupted or failed save never leaves a file that looks complete. The read-back check
    with ``weights_only=True`` guarantees the file is loadable by :func:`read_checkpoint`
    (no numpy arrays or other objects sneaked into the metadata).
    """
    final = Path(path).expanduser()
    # A fresh name per writer; open(..., "xb") keeps the umask's permissions (mkstemp's 0600
    # would make a shared weights file unreadable to others).
    tmp = final.with_name(f".{final.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        try:
            torch.load(tmp, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            found = re.search(r"GLOBAL (\S+)", str(exc))
            culprit = found.group(1) if found else "an object"
            raise ValueError(
                f"refusing to save {final.name}: it holds {culprit}, which a weights-only load "
                "refuses (use tensors, numbers, strings, lists and dicts)"
            ) from None
        os.replace(tmp, final)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CftrackError(f"{final}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes (streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
