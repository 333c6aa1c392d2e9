"""Where the ONNX files of OpenCV's deep trackers (NanoTrack, VitTrack) are found.

cftrack neither ships nor downloads them. They live in one folder, laid out as::

    DIR/nanotrack/nanotrack_backbone_sim.onnx
    DIR/nanotrack/nanotrack_head_sim.onnx
    DIR/vittrack/object_tracking_vittrack_2023sep.onnx

given with ``--peer-models DIR`` or the ``CFTRACK_PEER_MODELS`` variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cftrack_cli.errors import UsageError

ENV_VAR = "CFTRACK_PEER_MODELS"


@dataclass(frozen=True)
class PeerModel:
    files: tuple[str, ...]  # relative to the peer-models folder
    what: str
    source: str  # where to get them (their licence is Apache-2.0 for both)


MODELS = {
    "opencv-nano": PeerModel(
        ("nanotrack/nanotrack_backbone_sim.onnx", "nanotrack/nanotrack_head_sim.onnx"),
        "NanoTrack v2",
        "github.com/HonglinChu/SiamTrackers, NanoTrack/models/nanotrackv2/",
    ),
    "opencv-vit": PeerModel(
        ("vittrack/object_tracking_vittrack_2023sep.onnx",),
        "VitTrack",
        "github.com/opencv/opencv_zoo, models/object_tracking_vittrack/",
    ),
}


def peer_models_dir(folder: str | os.PathLike[str] | None = None) -> tuple[Path | None, str]:
    """The folder to look in and what named it: ``folder``, else ``$CFTRACK_PEER_MODELS``."""
    if folder is not None:
        return Path(folder).expanduser(), "--peer-models"
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), f"${ENV_VAR}"
    return None, ""


def model_files(tracker: str, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """The model files of ``tracker`` (a key of :data:`MODELS`); a one-line error if absent."""
    model = MODELS[tracker]
    root, origin = peer_models_dir(folder)
    # The first clause says what is missing (bench's skip line shows just that).
    lacking = f"no {model.what} model files: {tracker} needs"
    get = f"get them from {model.source}"
    if root is None:
        raise UsageError(
            f"{lacking} {' and '.join(model.files)} in a folder given with --peer-models DIR "
            f"or ${ENV_VAR}; {get}"
        )
    if not root.is_dir():
        raise UsageError(f"no peer-models folder {root} ({origin}): no such folder")
    paths = [root / name for name in model.files]
    missing = [str(p.relative_to(root)) for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"{lacking} {' and '.join(missing)} in {root} ({origin}); {get}")
    return paths
