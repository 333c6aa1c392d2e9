"""Benchmark datasets on disk: OTB, UAV123 and VOT/GOT-10k layouts, found automatically.

Layouts (``ROOT`` is the folder given to ``cftrack eval``):

* OTB: ``ROOT/<seq>/img/*.jpg`` and ``ROOT/<seq>/groundtruth_rect.txt``. OTB's two-target
  sequences (``groundtruth_rect.1.txt``, ``groundtruth_rect.2.txt``) become ``<seq>-1``,
  ``<seq>-2``.
* UAV123: ``ROOT/data_seq/<seq>/*.jpg`` and ``ROOT/anno/<seq>.txt`` (one more folder level, as in
  ``data_seq/UAV123/`` and ``anno/UAV123/``, is followed).
* VOT / GOT-10k: ``ROOT/<seq>/groundtruth.txt`` with the frames in ``ROOT/<seq>/color/`` or in
  ``ROOT/<seq>/`` itself. Polygons (8 numbers a row) are taken as their axis-aligned bounds.
* ``ROOT`` may also be one sequence folder of any of the per-sequence layouts above.

Ground truth is comma, tab or space separated; rows of NaN or of zero size mean "target absent".
Every ground-truth file is read as 1-based (OTB, UAV123, GOT-10k and VOT's MATLAB toolkit
all count from 1) through :mod:`cftrack_cli.io.annotations`, the one place that converts.

Attributes (scored separately in reports) come from ``ROOT/attributes.json``
(``{"Seq": ["IV", "SV"]}``) or ``ROOT/<seq>/attributes.txt`` (comma or space separated tags).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cftrack_cli.errors import UsageError
from cftrack_cli.io.annotations import read_boxes
from cftrack_cli.io.frames import IMAGE_SUFFIXES, natural_key

OTB_GT = "groundtruth_rect.txt"
VOT_GT = "groundtruth.txt"
_OTB_MULTI = re.compile(r"^groundtruth_rect\.(\d+)\.txt$")
_TAG_SPLIT = re.compile(r"[,;\s]+")

Entry = tuple[str, Path, Path, Path | None]  # name, frame folder, gt file, sequence folder


@dataclass(frozen=True)
class Sequence:
    """One sequence: its frames, its ground-truth file and its attribute tags."""

    name: str
    frames: tuple[Path, ...]  # image files in order, cut to the ground truth's length
    groundtruth_file: Path
    #: (N, 4) boxes in 0-based pixels, one per frame; NaN rows where the target is absent.
    groundtruth: np.ndarray = field(repr=False, compare=False)
    attributes: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=(), compare=False)  # warnings found while loading

    @property
    def frame_count(self) -> int:
        return len(self.frames)


@dataclass(frozen=True)
class Dataset:
    root: Path
    layout: str  # "OTB", "UAV123", "VOT" or a mix such as "OTB+VOT"
    sequences: tuple[Sequence, ...]

    @property
    def name(self) -> str:
        return self.root.resolve().name

    def names(self) -> list[str]:
        return [s.name for s in self.sequences]

    def by_name(self) -> dict[str, Sequence]:
        return {s.name: s for s in self.sequences}

    @property
    def attributes(self) -> list[str]:
        """Every attribute tag used by some sequence, sorted."""
        return sorted({a for s in self.sequences for a in s.attributes})


def _images(folder: Path) -> list[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError as exc:
        raise UsageError(f"{folder}: cannot list the frames ({exc.strerror})") from None
    files = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


def _make_sequence(name: str, frame_dir: Path, gt_file: Path, tags: tuple[str, ...]) -> Sequence:
    frames = _images(frame_dir)
    if not frames:
        raise UsageError(f"{frame_dir}: sequence {name!r} has no images")
    gt = read_boxes(gt_file)  # 1-based file -> 0-based boxes; one-line UsageError if unreadable
    rows = len(gt)
    if rows == 0:
        raise UsageError(f"{gt_file}: the ground-truth file is empty")
    notes: list[str] = []
    n = min(rows, len(frames))
    if rows != len(frames):
        notes.append(
            f"{name}: {len(frames)} images but {rows} ground-truth rows; using the first {n}"
        )
    if not np.isfinite(gt[:n]).all(axis=1).any():
        notes.append(f"{name}: the target is absent in every frame; the sequence is not scored")
    return Sequence(name, tuple(frames[:n]), gt_file, gt[:n], tags, tuple(notes))


def _read_tags_file(path: Path) -> tuple[str, ...]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read ({exc.strerror})") from None
    return tuple(dict.fromkeys(t for t in _TAG_SPLIT.split(text) if t))


def _read_attributes_json(root: Path) -> dict[str, tuple[str, ...]]:
    path = root / "attributes.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in data.values()
    ):
        raise UsageError(f'{path}: expected {{"Sequence": ["TAG", ...], ...}}')
    return {str(k): tuple(dict.fromkeys(v)) for k, v in data.items()}


def _per_sequence_folder(folder: Path) -> list[Entry]:
    """(name, frame folder, gt file) for an OTB or VOT sequence folder; [] if it is neither."""
    if (folder / "img").is_dir():
        if (folder / OTB_GT).is_file():
            return [(folder.name, folder / "img", folder / OTB_GT, folder)]
        multi = sorted(
            (int(m.group(1)), p)
            for p in folder.glob("groundtruth_rect.*.txt")
            if (m := _OTB_MULTI.match(p.name))
        )
        if multi:
            return [(f"{folder.name}-{k}", folder / "img", p, folder) for k, p in multi]
        if (folder / VOT_GT).is_file():
            return [(folder.name, folder / "img", folder / VOT_GT, folder)]
        return []
    if (folder / VOT_GT).is_file():
        frame_dir = folder / "color" if (folder / "color").is_dir() else folder
        return [(folder.name, frame_dir, folder / VOT_GT, folder)]
    if (folder / OTB_GT).is_file():
        return [(folder.name, folder, folder / OTB_GT, folder)]
    return []


def _uav_entries(root: Path) -> list[Entry]:
    data, anno = root / "data_seq", root / "anno"
    if not (data.is_dir() and anno.is_dir()):
        return []
    # UAV123 nests one more level: data_seq/UAV123/<seq>, anno/UAV123/<seq>.txt
    if not list(anno.glob("*.txt")):
        subs = [d for d in anno.iterdir() if d.is_dir() and list(d.glob("*.txt"))]
        if len(subs) == 1 and (data / subs[0].name).is_dir():
            data, anno = data / subs[0].name, subs[0]
    entries: list[Entry] = []
    for gt in sorted(anno.glob("*.txt"), key=lambda p: natural_key(p.name)):
        frame_dir = data / gt.stem
        if frame_dir.is_dir():
            entries.append((gt.stem, frame_dir, gt, None))
    return entries


def find_dataset(root: Path, only: list[str] | None = None) -> Dataset:
    """Every sequence under ``root`` (or the ones named in ``only``), sorted by name.

    Raises :class:`UsageError` with a one-line reason when ``root`` is not a dataset, a named
    sequence does not exist, or a ground-truth file is unreadable.
    """
    if not root.exists():
        raise UsageError(f"{root}: no such dataset folder")
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder (give the folder holding the sequences)")
    layouts: set[str] = set()
    entries: list[Entry] = _uav_entries(root)
    if entries:
        layouts.add("UAV123")
    else:
        single = _per_sequence_folder(root)
        if single:
            entries = single
        else:
            try:
                children = sorted(
                    (d for d in root.iterdir() if d.is_dir()), key=lambda p: natural_key(p.name)
                )
            except OSError as exc:
                raise UsageError(f"{root}: cannot list ({exc.strerror})") from None
            for child in children:
                entries.extend(_per_sequence_folder(child))
        for _, _, gt, _ in entries:
            layouts.add("VOT" if gt.name == VOT_GT else "OTB")
    if not entries:
        raise UsageError(
            f"{root}: no sequences found (expected <seq>/img/ + <seq>/{OTB_GT} (OTB), "
            f"data_seq/<seq>/ + anno/<seq>.txt (UAV123), or <seq>/{VOT_GT} (VOT))"
        )
    names = [e[0] for e in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"{root}: sequence names found twice: {', '.join(dupes)}")
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise UsageError(
                f"no sequence {', '.join(repr(n) for n in unknown)} in {root}; "
                f"it has: {', '.join(names)}"
            )
        wanted = set(only)
        entries = [e for e in entries if e[0] in wanted]
    table = _read_attributes_json(root)
    sequences = []
    for name, frame_dir, gt, seq_dir in sorted(entries, key=lambda e: natural_key(e[0])):
        tags = table.get(name)
        if tags is None and seq_dir is not None and (seq_dir / "attributes.txt").is_file():
            tags = _read_tags_file(seq_dir / "attributes.txt")
        sequences.append(_make_sequence(name, frame_dir, gt, tags or ()))
    return Dataset(root, "+".join(sorted(layouts)), tuple(sequences))


def shard_sequences(sequences: list[Sequence], index: int, count: int) -> list[Sequence]:
    """Every ``count``-th sequence starting at 0-based ``index`` (``i % count == index``)."""
    return [s for i, s in enumerate(sequences) if i % count == index]


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` with 0 <= K < N, as ``(K, N)``; UsageError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--shard {text!r}: expected K/N, e.g. 0/4 (K counts from 0)")
    k, n = int(m.group(1)), int(m.group(2))
    if n < 1 or k >= n:
        raise UsageError(f"--shard {text!r}: need N >= 1 and 0 <= K < N (K counts from 0)")
    return k, n
