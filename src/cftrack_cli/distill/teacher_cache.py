"""Teacher feature maps of every training crop: computed once, stored on disk, reused.

VGG16 to conv5_3 costs ~60 ms per 200x200 crop on this project's 2 cores (25 ms at 128x128),
far more than a student training step per crop, and every epoch needs the same maps again. So
they are computed once, in batches, and stored as float16 under ``<cache_dir>/<key>/``, where
``key`` hashes everything that determines them: the teacher's weights (SHA-256) and
preprocessing, the taps, the PCA dims, the data (absolute paths, file sizes, frame counts,
boxes), the pair parameters, the number of pairs and the seed. A later run with the same
inputs reads them back (``weights_only=True``, memory-mapped) and runs the teacher on nothing.

Per tap the maps are standardised per channel (mean and std over the first chunk of crops)
and, optionally, projected on their top-k principal components (PCA of the standardised
maps, fitted on the same chunk), then divided by one number so that their mean square is 1.
The fidelity MSE is then comparable across taps (a zero prediction scores 1), and since an
orthonormal projection keeps distances it is the standardised-space MSE restricted to the kept
subspace. PCA is what the tracker does anyway (ECO projects each layer to a few dimensions)
and it shrinks the cache (conv3_3: 256 -> 64 channels, 4x less disk and RAM).

Layout of a cache folder (every file written atomically; ``manifest.json`` last, so its
presence means complete; chunks already present are kept, so an interrupted caching resumes):

- ``pairs.pt``: ``template``, ``search`` uint8 (N, S, S, 3); ``shift`` float32 (N, 2)
- ``stats.pt``: ``{tap: TapStats.to_dict()}``
- ``chunk-00000.pt`` ...: ``{tap: float16 (n, 2, k, h, w)}`` for pairs ``[c * 128, (c + 1) * 128)``,
  index 0 of axis 1 the template crop, 1 the search crop
- ``manifest.json``: what the key hashes, the dims and the variance each PCA keeps

Under DDP, rank 0 samples the pairs and fits the statistics; then every rank computes its
share of the chunks and, after a barrier, all ranks read all of them (the cache folder must
be on a file system every rank sees).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import pickle
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cftrack_cli.distill.data import (
    BoxedSequence,
    ImageSet,
    PairParams,
    Pairs,
    Source,
    Video,
    sample_pairs,
)
from cftrack_cli.distill.distributed import DistContext
from cftrack_cli.distill.reporting import DistillInterrupted, NullReporter, Reporter, StopFlag
from cftrack_cli.errors import UsageError
from cftrack_cli.io.atomic import atomic_write_text
from cftrack_cli.nets.checkpoint import write_checkpoint
from cftrack_cli.nets.preprocessing import Preprocessing
from cftrack_cli.nets.tapped import TappedNet

__all__ = [
    "CACHE_VERSION",
    "CHUNK_PAIRS",
    "TapStats",
    "TeacherCache",
    "build_teacher_cache",
    "data_fingerprint",
    "fit_stats",
    "teacher_fingerprint",
]

CACHE_VERSION = 1
CHUNK_PAIRS = 128  # pairs per chunk file; the first chunk also fits the statistics
_MAX_ROWS = 32768  # feature vectors per tap used to fit mean, std and PCA


# -- per-tap statistics ------------------------------------------------------------------------
@dataclass(frozen=True)
class TapStats:
    """Standardisation (and optional PCA) of one teacher tap: ``apply(raw) -> target maps``."""

    mean: torch.Tensor  # (C,) per-channel mean of the raw maps
    std: torch.Tensor  # (C,) per-channel std (1 for channels that never vary)
    basis: torch.Tensor | None  # (C, k) orthonormal principal directions; None: all channels
    scale: float  # the standardised (projected) maps are divided by this: mean square 1
    explained: float  # fraction of the standardised variance the kept dims hold

    @property
    def dims(self) -> int:
        return int(self.mean.numel() if self.basis is None else self.basis.shape[1])

    def apply(self, raw: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) raw teacher maps -> (N, k, h, w) float32 fidelity targets."""
        dev = raw.device
        z = (raw.float() - self.mean.to(dev).view(1, -1, 1, 1)) / self.std.to(dev).view(1, -1, 1, 1)
        if self.basis is not None:
            z = torch.einsum("nchw,ck->nkhw", z, self.basis.to(dev))
        return z / self.scale

    def to_dict(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "basis": self.basis,
            "scale": self.scale,
            "explained": self.explained,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TapStats:
        return cls(d["mean"], d["std"], d["basis"], float(d["scale"]), float(d["explained"]))


def fit_stats(raw: torch.Tensor, dims: int, seed: int = 0) -> TapStats:
    """Per-channel mean/std and, for ``0 < dims < C``, the top-``dims`` PCA of (N, C, h, w)."""
    c = raw.shape[1]
    x = raw.float().permute(0, 2, 3, 1).reshape(-1, c)
    if x.shape[0] > _MAX_ROWS:
        g = torch.Generator().manual_seed(seed)
        x = x[torch.randperm(x.shape[0], generator=g)[:_MAX_ROWS]]
    x = x.double()
    mean = x.mean(0)
    std = x.std(0)
    dead = std <= 1e-6 * max(float(std.max()), 1e-12)  # ReLU channels that never fire
    std = torch.where(dead, torch.ones_like(std), std)
    z = (x - mean) / std
    if dims <= 0 or dims >= c:
        scale = math.sqrt(max(float(z.pow(2).mean()), 1e-12))
        return TapStats(mean.float(), std.float(), None, scale, 1.0)
    cov = z.T @ z / z.shape[0]
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    top = evals.flip(0)[:dims].clamp_min(0)
    basis = evecs.flip(1)[:, :dims]
    # A fixed sign per direction (eigenvectors are defined up to sign): largest entry positive.
    signs = torch.sign(basis.gather(0, basis.abs().argmax(0, keepdim=True)))
    basis = basis * torch.where(signs == 0, torch.ones_like(signs), signs)
    explained = float(top.sum() / evals.clamp_min(0).sum().clamp_min(1e-12))
    scale = math.sqrt(max(float(top.mean()), 1e-12))
    return TapStats(mean.float(), std.float(), basis.float().contiguous(), scale, explained)


def _stats_digest(stats: dict[str, TapStats]) -> str:
    h = hashlib.sha256()
    for tap in sorted(stats):
        s = stats[tap]
        h.update(tap.encode())
        for t in (s.mean, s.std, s.basis):
            if t is not None:
                h.update(t.contiguous().numpy().tobytes())
        h.update(repr(s.scale).encode())
    return h.hexdigest()[:20]


# -- what the cache depends on --------------------------------------------------------------
def teacher_fingerprint(teacher: Any) -> str:
    """The teacher weight file's SHA-256, or a digest of the network's tensors (no file)."""
    path = getattr(teacher, "path", None)
    if path is not None and Path(path).is_file():
        return str(teacher.sha256)
    h = hashlib.sha256(json.dumps(getattr(teacher.net, "spec", None), sort_keys=True).encode())
    for key, value in sorted(teacher.net.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _files_digest(files: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for f in files:
        p = Path(f).resolve()
        h.update(f"{p}:{p.stat().st_size}\n".encode())
    return h.hexdigest()[:20]


def data_fingerprint(sources: Sequence[Source]) -> list[dict[str, Any]]:
    """Per source: kind, absolute path(s) and sizes (digested), frame counts, boxes."""
    out: list[dict[str, Any]] = []
    for s in sources:
        if isinstance(s, ImageSet):
            out.append({"images": len(s.files), "digest": _files_digest(s.files)})
        elif isinstance(s, Video):
            p = s.path.resolve()
            out.append({"video": str(p), "frames": s.frames, "bytes": p.stat().st_size})
        elif isinstance(s, BoxedSequence):
            digest = _files_digest(s.files)
            boxes = hashlib.sha256(np.ascontiguousarray(s.boxes).tobytes()).hexdigest()[:20]
            out.append(
                {"sequence": s.name, "frames": len(s.files), "digest": digest, "boxes": boxes}
            )
    return out


def _prep_record(prep: Preprocessing) -> dict[str, Any]:
    image = None
    if prep.mean_image is not None:
        image = hashlib.sha256(np.ascontiguousarray(prep.mean_image).tobytes()).hexdigest()[:20]
    return {
        "name": prep.name,
        "mean": list(prep.mean),
        "std": list(prep.std),
        "scale": prep.scale,
        "mean_image": image,
    }


# -- the cache -------------------------------------------------------------------------------
@dataclass
class TeacherCache:
    """The pairs and their teacher targets; ``targets(tap, idx)`` gathers a batch."""

    folder: Path
    key: str
    taps: tuple[str, ...]
    stats: dict[str, TapStats]
    pairs: Pairs
    computed: int  # crops the teacher ran on during this call (0: everything was reused)
    _chunks: dict[str, list[torch.Tensor]] = field(repr=False, default_factory=dict)

    def __len__(self) -> int:
        return len(self.pairs)

    def targets(self, tap: str, index: Sequence[int]) -> torch.Tensor:
        """(B, 2, k, h, w) float32: template (``[:, 0]``) and search targets of pairs ``index``."""
        chunks = self._chunks[tap]
        return torch.stack([chunks[i // CHUNK_PAIRS][i % CHUNK_PAIRS] for i in index]).float()

    def nbytes(self) -> int:
        """Bytes of the teacher targets (float16) and the crops (uint8)."""
        feats = sum(t.numel() * t.element_size() for ch in self._chunks.values() for t in ch)
        return feats + self.pairs.template.nbytes + self.pairs.search.nbytes


def _load(path: Path, mmap: bool = True) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except (
        OSError,
        RuntimeError,
        EOFError,
        ValueError,
        KeyError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ):
        raise UsageError(
            f"{path}: damaged teacher-cache file; delete {path.parent} and rerun"
        ) from None


def _chunk_path(folder: Path, c: int) -> Path:
    return folder / f"chunk-{c:05d}.pt"


def _half(maps: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {t: v.to(torch.float16).contiguous() for t, v in maps.items()}


def _apply_pairs(stats: TapStats, raw: torch.Tensor) -> torch.Tensor:
    """``stats.apply`` on (n, 2, C, h, w) pair maps."""
    y = stats.apply(raw.flatten(0, 1))
    return y.view(raw.shape[0], 2, *y.shape[1:])


def _teacher_pass(
    net: TappedNet,
    prep: Preprocessing,
    pairs: Pairs,
    lo: int,
    hi: int,
    taps: tuple[str, ...],
    transform: dict[str, TapStats] | None,
    device: torch.device,
    batch_pairs: int,
    stop: StopFlag | None,
    reporter: Reporter,
) -> dict[str, torch.Tensor] | None:
    """Teacher maps of pairs [lo, hi): {tap: (n, 2, k, h, w)} float32 (raw without transform),
    or None when a stop was requested (checked between batches)."""
    parts: dict[str, list[torch.Tensor]] = {t: [] for t in taps}
    for start in range(lo, hi, batch_pairs):
        if stop is not None and stop.requested:
            return None
        end = min(start + batch_pairs, hi)
        crops = np.stack([pairs.template[start:end], pairs.search[start:end]], axis=1)
        crops = crops.reshape(-1, *crops.shape[2:])  # template, search, template, ...
        with torch.inference_mode():
            out = net(prep(crops).to(device), taps)
            for t in taps:
                y = out[t] if transform is None else transform[t].apply(out[t])
                y = y.float().cpu().contiguous()
                parts[t].append(y.view(end - start, 2, *y.shape[1:]))
        reporter.advance(2 * (end - start))
    return {t: torch.cat(p) for t, p in parts.items()}


def build_teacher_cache(
    teacher: Any,
    taps: Sequence[str],
    sources: Sequence[Source],
    n_pairs: int,
    params: PairParams,
    seed: int,
    cache_dir: str | Path,
    pca_dims: Sequence[int],
    *,
    stats: dict[str, TapStats] | None = None,
    dist: DistContext | None = None,
    batch_pairs: int = 8,
    stop: StopFlag | None = None,
    reporter: Reporter | None = None,
) -> TeacherCache:
    """Load the cache for these inputs, computing whatever part of it is missing.

    ``teacher`` has ``net`` (a :class:`TappedNet` with ``taps``) and ``preprocessing`` (a
    loaded :class:`~cftrack_cli.nets.teacher.Teacher`, or a stand-in for tests). ``pca_dims``
    gives, per tap, the dims kept (0: all channels, standardised only). ``stats``: reuse these
    statistics instead of fitting (validation pairs must be mapped like the training ones).
    Raises :class:`DistillInterrupted` when ``stop`` is requested; finished chunks are kept.
    """
    dist = dist or DistContext()
    reporter = reporter or NullReporter()
    taps = tuple(taps)
    dims = tuple(int(d) for d in pca_dims)
    if len(dims) != len(taps):
        raise ValueError("give one PCA dim per tap")
    if n_pairs < 1:
        raise ValueError("n_pairs must be >= 1")
    record = {
        "format": CACHE_VERSION,
        "teacher": teacher_fingerprint(teacher),
        "preprocessing": _prep_record(teacher.preprocessing),
        "taps": list(taps),
        "pca_dims": list(dims),
        "data": data_fingerprint(sources),
        "pairs": asdict(params),
        "n_pairs": n_pairs,
        "seed": seed,
        "chunk_pairs": CHUNK_PAIRS,
        "stats": _stats_digest(stats) if stats is not None else None,
    }
    key = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:20]
    folder = Path(cache_dir).expanduser() / key
    manifest = folder / "manifest.json"
    n_chunks = math.ceil(n_pairs / CHUNK_PAIRS)
    computed = 0
    if not manifest.is_file():
        computed = _compute(
            teacher, taps, dims, sources, n_pairs, params, seed, folder, stats, record,
            dist, batch_pairs, stop, reporter,
        )  # fmt: skip
    else:
        reporter.message(f"teacher features: reusing the cache in {folder}")
    dist.barrier()
    pairs_obj = _load(folder / "pairs.pt")
    pairs = Pairs(
        pairs_obj["template"].numpy(), pairs_obj["search"].numpy(), pairs_obj["shift"].numpy()
    )
    loaded_stats = {t: TapStats.from_dict(d) for t, d in _load(folder / "stats.pt").items()}
    chunks: dict[str, list[torch.Tensor]] = {t: [] for t in taps}
    for c in range(n_chunks):
        obj = _load(_chunk_path(folder, c))
        for t in taps:
            chunks[t].append(obj[t])
    return TeacherCache(folder, key, taps, loaded_stats, pairs, computed, chunks)


def _compute(
    teacher: Any,
    taps: tuple[str, ...],
    dims: tuple[int, ...],
    sources: Sequence[Source],
    n_pairs: int,
    params: PairParams,
    seed: int,
    folder: Path,
    stats: dict[str, TapStats] | None,
    record: dict[str, Any],
    dist: DistContext,
    batch_pairs: int,
    stop: StopFlag | None,
    reporter: Reporter,
) -> int:
    """Fill ``folder``; returns the number of crops the teacher ran on (this rank)."""
    n_chunks = math.ceil(n_pairs / CHUNK_PAIRS)
    device = dist.device
    net = teacher.net.to(device).eval()
    prep = teacher.preprocessing
    computed = 0
    if dist.is_main:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"{folder}: cannot create the teacher cache ({exc.strerror})"
            ) from None
        if not (folder / "pairs.pt").is_file():
            reporter.stage("sampling pairs", None)
            pairs = sample_pairs(list(sources), n_pairs, params, seed)
            write_checkpoint(
                {
                    "template": torch.from_numpy(pairs.template),
                    "search": torch.from_numpy(pairs.search),
                    "shift": torch.from_numpy(pairs.shift),
                },
                folder / "pairs.pt",
            )
    dist.barrier()
    obj = _load(folder / "pairs.pt")
    pairs = Pairs(obj["template"].numpy(), obj["search"].numpy(), obj["shift"].numpy())
    del obj

    def interrupted() -> DistillInterrupted:
        kept = sum(_chunk_path(folder, c).is_file() for c in range(n_chunks))
        return DistillInterrupted(
            f"interrupted while caching teacher features: {kept} of {n_chunks} chunks are kept "
            f"in {folder}; the same command continues from there"
        )

    # What is missing, as one list for every rank (files appear while ranks write).
    plan = [
        not (folder / "stats.pt").is_file(),
        [c for c in range(n_chunks) if not _chunk_path(folder, c).is_file()],
    ]
    if dist.distributed:
        torch.distributed.broadcast_object_list(plan, src=0)
    need_stats, missing = plan
    # Rank 0 fits the statistics on chunk 0's raw maps (then writes chunk 0 from them);
    # the other missing chunks are shared out round-robin.
    first = [0] if need_stats else []
    rest = [c for c in missing if c not in first]
    mine = rest[dist.rank :: dist.world_size]

    def n_in(c: int) -> int:
        return min(CHUNK_PAIRS, n_pairs - c * CHUNK_PAIRS)

    total = 2 * sum(n_in(c) for c in (first if dist.is_main else []) + mine)
    reporter.stage("teacher features", total)

    stopped = False
    if dist.is_main and need_stats:
        hi = n_in(0)
        raw = _teacher_pass(
            net, prep, pairs, 0, hi, taps, stats, device, batch_pairs, stop, reporter
        )
        if raw is None:
            stopped = True
        else:
            computed += 2 * hi
            if stats is None:
                fitted = {
                    t: fit_stats(raw[t].flatten(0, 1), d, seed)
                    for t, d in zip(taps, dims, strict=True)
                }
                chunk0 = {t: _apply_pairs(fitted[t], raw[t]) for t in taps}
            else:
                fitted, chunk0 = stats, raw  # already mapped with the given statistics
            # Statistics first: a chunk on disk always has its statistics beside it.
            write_checkpoint({t: s.to_dict() for t, s in fitted.items()}, folder / "stats.pt")
            write_checkpoint(_half(chunk0), _chunk_path(folder, 0))
            del raw, chunk0
    if dist.any(stopped):
        raise interrupted()
    dist.barrier()
    fitted = {t: TapStats.from_dict(d) for t, d in _load(folder / "stats.pt", mmap=False).items()}

    rounds = math.ceil(len(rest) / dist.world_size)
    for r in range(rounds):
        j = r * dist.world_size + dist.rank
        stopped = False
        if j < len(rest):
            c = rest[j]
            lo, hi = c * CHUNK_PAIRS, c * CHUNK_PAIRS + n_in(c)
            maps = _teacher_pass(
                net, prep, pairs, lo, hi, taps, fitted, device, batch_pairs, stop, reporter
            )
            if maps is None:
                stopped = True
            else:
                computed += 2 * (hi - lo)
                write_checkpoint(_half(maps), _chunk_path(folder, c))
        if dist.any(stopped):
            raise interrupted()
    dist.barrier()
    if dist.is_main:
        info = {
            **record,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "dims": {t: fitted[t].dims for t in taps},
            "explained_variance": {t: round(fitted[t].explained, 4) for t in taps},
        }
        atomic_write_text(folder / "manifest.json", json.dumps(info, indent=1) + "\n")
    return computed
