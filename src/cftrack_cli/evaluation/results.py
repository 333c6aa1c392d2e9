"""Result folders: ``<root>/<tracker>/<seq>.txt`` and ``<root>/<tracker>/times/<seq>_time.txt``.

The layout got10k and pysot-toolkit read and write. A box file holds one comma-separated
``x,y,w,h`` line per frame in the OTB 1-based pixel convention, like the ground truth, so it
compares directly with published results; conversion happens only in
:mod:`cftrack_cli.io.annotations`. A times file holds the seconds each frame spent in the
tracker's ``init`` (first line) or ``update`` (the rest), decoding excluded. A scores file,
``<root>/<tracker>/scores/<seq>_score.txt``, holds the tracker's confidence per frame, and
``score,lost`` (lost 0 or 1) for trackers that flag lost frames. A machine file,
``<root>/<tracker>/machine/<seq>.json``, says which CPU and library releases tracked the
sequence (:func:`cftrack_cli.machine.arithmetic_basis`): results from two of them can differ.

All files are written atomically (write, then rename), the box file last, so a box file whose line
count equals the sequence's frame count is a finished sequence, even after a killed run.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from cftrack_cli.errors import UsageError
from cftrack_cli.io.annotations import read_boxes, write_boxes
from cftrack_cli.io.atomic import atomic_write_text

TIMES_DIR = "times"
SCORES_DIR = "scores"
MACHINE_DIR = "machine"


def count_lines(path: Path) -> int:
    """Lines of a text file, trailing blank lines not counted; 0 if it cannot be read."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return 0
    while lines and not lines[-1].strip():
        lines.pop()
    return len(lines)


class ResultFolder:
    """One results root, such as ``./cftrack-eval/results`` or ``../shared/published_results``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"ResultFolder({str(self.root)!r})"

    def boxes_path(self, tracker: str, sequence: str) -> Path:
        return self.root / tracker / f"{sequence}.txt"

    def times_path(self, tracker: str, sequence: str) -> Path:
        return self.root / tracker / TIMES_DIR / f"{sequence}_time.txt"

    def scores_path(self, tracker: str, sequence: str) -> Path:
        return self.root / tracker / SCORES_DIR / f"{sequence}_score.txt"

    def machine_path(self, tracker: str, sequence: str) -> Path:
        return self.root / tracker / MACHINE_DIR / f"{sequence}.json"

    def trackers(self) -> list[str]:
        """Sub-folders holding at least one ``<seq>.txt`` box file, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(
            d.name
            for d in self.root.iterdir()
            if d.is_dir() and not d.name.startswith(".") and self._box_files(d)
        )

    @staticmethod
    def _box_files(folder: Path) -> dict[str, Path]:
        return {
            p.stem: p
            for p in folder.glob("*.txt")
            if p.is_file() and not p.name.startswith(".")  # ".x.partial.txt": unfinished
        }

    def find(self, tracker: str, sequence: str) -> Path | None:
        """The box file of ``sequence``; an exact name first, then ignoring case."""
        exact = self.boxes_path(tracker, sequence)
        if exact.is_file():
            return exact
        folder = self.root / tracker
        if not folder.is_dir():
            return None
        lowered = {k.lower(): p for k, p in self._box_files(folder).items()}
        return lowered.get(sequence.lower())

    def is_done(self, tracker: str, sequence: str, frame_count: int) -> bool:
        """True when the box file exists with exactly one line per frame."""
        return count_lines(self.boxes_path(tracker, sequence)) == frame_count

    def write(
        self,
        tracker: str,
        sequence: str,
        boxes: Iterable[Iterable[float]],
        seconds: Iterable[float],
        scores: Iterable[float] | None = None,
        lost: Iterable[bool] | None = None,
        machine: dict[str, Any] | None = None,
    ) -> Path:
        """Write times, scores and the machine, then the boxes (0-based in, 1-based on disk),
        each atomically."""
        path = self.boxes_path(tracker, sequence)
        times = self.times_path(tracker, sequence)
        times.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(times, "".join(f"{s:.6f}\n" for s in seconds))
        where = self.machine_path(tracker, sequence)
        if machine is not None:
            where.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(where, json.dumps(machine, sort_keys=True) + "\n")
        elif where.exists():  # a record of the run these boxes replace would be wrong
            where.unlink()
        if scores is not None:
            target = self.scores_path(tracker, sequence)
            target.parent.mkdir(parents=True, exist_ok=True)
            values = [f"{v:.4f}" for v in scores]
            if lost is not None:
                values = [f"{v},{int(f)}" for v, f in zip(values, lost, strict=True)]
            atomic_write_text(target, "".join(f"{v}\n" for v in values))
        write_boxes(path, boxes)
        return path

    def read_boxes(self, tracker: str, sequence: str) -> np.ndarray | None:
        """The boxes of a sequence in 0-based pixels (NaN rows kept), or None if there is none."""
        path = self.find(tracker, sequence)
        if path is None:
            return None
        return read_boxes(path)

    def read_machine(self, tracker: str, sequence: str) -> dict[str, Any] | None:
        """The machine that tracked ``sequence``; None without a (readable) record: results
        from before cftrack kept one, or from another tool."""
        try:
            record = json.loads(self.machine_path(tracker, sequence).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def read_times(self, tracker: str, sequence: str) -> np.ndarray | None:
        """Per-frame seconds, or None when there is no (readable) times file."""
        path = self.times_path(tracker, sequence)
        if not path.is_file():
            return None
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        try:
            return np.array([float(v) for v in text.split()], dtype=np.float64)
        except ValueError:
            raise UsageError(f"{path}: a times file holds one number of seconds a line") from None

    def read_scores(
        self, tracker: str, sequence: str
    ) -> tuple[np.ndarray, np.ndarray | None] | None:
        """Per-frame confidence and lost flags (None when the tracker has no such notion)."""
        path = self.scores_path(tracker, sequence)
        if not path.is_file():
            return None
        try:
            rows = [
                [float(v) for v in line.split(",")]
                for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        except (OSError, ValueError):
            raise UsageError(f"{path}: a scores file holds 'score' or 'score,lost' lines") from None
        if not rows:
            return None
        table = np.array(rows, dtype=np.float64)
        lost = table[:, 1] > 0.5 if table.shape[1] > 1 else None
        return table[:, 0], lost

    def remove_partials(self, trackers: Iterable[str]) -> None:
        """Delete temporary files a killed run may have left (``.<name>.partial.txt``)."""
        for tracker in trackers:
            for folder in (
                self.root / tracker,
                self.root / tracker / TIMES_DIR,
                self.root / tracker / SCORES_DIR,
            ):
                if folder.is_dir():
                    for p in folder.glob(".*.partial*"):
                        p.unlink(missing_ok=True)
