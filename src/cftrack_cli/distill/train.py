"""The distillation: a small student learns the teacher's feature maps and to track with them.

``distill(config, teacher, sources, out)`` runs the whole thing:

1. the teacher's maps of every training crop, from the cache or computed once
   (:mod:`~cftrack_cli.distill.teacher_cache`);
2. a student (:func:`~cftrack_cli.nets.student.vgg16_student_spec`) plus one 1x1 adapter per
   fidelity pair, trained with AdamW on
   ``fidelity_weight * mean_pairs(MSE(adapter(student), teacher)) + tracking_weight * mean_taps(
   DCF tracking loss)`` (:mod:`~cftrack_cli.distill.losses`), learning rate warm-up then cosine;
3. a checkpoint (``<out>.ckpt``) at the end of every epoch and when stopped, a JSON-lines log
   (``<out>.log.jsonl``), and the student file (``out``, adapters dropped) with the metadata of
   how it was made.

Determinism: the student's initialisation comes from ``seed``, the order of epoch ``e`` from
``(seed, e)``, nothing else draws random numbers, and deterministic algorithms are requested,
so the same seed on the same machine and thread count gives bit-identical weights, and a run
stopped at any step and resumed from its checkpoint ends exactly as an uninterrupted one.

Under ``torchrun`` (``WORLD_SIZE`` > 1) every rank takes its slice of each global batch,
DistributedDataParallel averages the gradients (each rank's loss is weighted by its share, so
the average is the global batch mean), and only rank 0 writes files.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from cftrack_cli.distill.data import PairParams, Source, describe_sources
from cftrack_cli.distill.distributed import DistContext, init_distributed
from cftrack_cli.distill.losses import (
    TrackingLoss,
    fidelity_mse,
    peak_shifts,
    upsample_periodic,
)
from cftrack_cli.distill.reporting import DistillInterrupted, NullReporter, Reporter, StopFlag
from cftrack_cli.distill.teacher_cache import (
    TeacherCache,
    build_teacher_cache,
    data_fingerprint,
    teacher_fingerprint,
)
from cftrack_cli.errors import UsageError
from cftrack_cli.io.atomic import ensure_writable_dir
from cftrack_cli.nets.checkpoint import read_checkpoint, write_checkpoint
from cftrack_cli.nets.student import DEFAULT_STUDENT_TAPS, StudentNet, vgg16_student_spec
from cftrack_cli.nets.weights import save_student

__all__ = [
    "CHECKPOINT_FORMAT",
    "DistillConfig",
    "DistillResult",
    "default_cache_dir",
    "distill",
    "read_distill_checkpoint",
]

CHECKPOINT_FORMAT = "cftrack-distill-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class DistillConfig:
    """The recipe: with the teacher and the data, everything that determines the weights."""

    # -- the student and what it learns from the teacher ---------------------------------------
    width: float = 0.125  # student channels = width x VGG16's at each stride (~100k params)
    student_taps: tuple[str, ...] = DEFAULT_STUDENT_TAPS  # taps the student file offers
    deep_convs: int = 1  # 3x3 convs at stride 16 (VGG16 has 3); each widens conv5_3's view
    # (student tap, teacher tap) pairs of equal stride for the fidelity loss: deep ECO's taps.
    fidelity_pairs: tuple[tuple[str, str], ...] = (("conv3_3", "conv3_3"), ("conv5_3", "conv5_3"))
    pca_dims: tuple[int, ...] = (64, 128)  # teacher dims kept per fidelity pair; 0 = all
    # Student taps whose DCF must find the target. conv5_3 only: measured on held-out OTB pairs
    # it lifts the stride-16 localisation most (0.63 -> 0.93 located) while conv3_3's is
    # saturated (0.96-0.97 with or without) and a conv3_3 term costs fidelity.
    tracking_taps: tuple[str, ...] = ("conv5_3",)
    # -- data ------------------------------------------------------------------------------
    # Training pairs (template + search crop), sampled once, teacher maps cached. More pairs beat
    # more epochs at equal steps (held-out fidelity 0.62 with 4000 x 6 epochs vs 0.67 with
    # 2000 x 12); 8000 pairs cache 7.2 GB on disk (memory-mapped), 16000 teacher crops.
    n_pairs: int = 8000
    pairs: PairParams = field(default_factory=PairParams)  # crop size, context, augmentation
    val_pairs: int = 256  # held-out pairs drawn from the validation data (when given)
    # -- losses ----------------------------------------------------------------------------
    fidelity_weight: float = 1.0  # weight of the mean fidelity MSE (1 at a zero prediction)
    tracking_weight: float = 0.3  # weight of the DCF tracking loss ||r - g||^2 (0.1-3 tried)
    dcf_lambda: float = 0.01  # filter regulariser, relative to the mean spectral energy
    label_sigma: float = 0.1  # Gaussian label std, fraction of the target side
    # -- optimisation ----------------------------------------------------------------------
    epochs: int = 30  # passes over the pairs (steps are cheap next to the teacher's crops)
    batch_size: int = 32  # pairs per step (global: split over DDP ranks)
    lr: float = 2e-3  # AdamW peak learning rate
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    warmup: float = 0.03  # fraction of the steps with a linear warm-up
    final_lr: float = 0.01  # cosine decay ends at this fraction of lr
    seed: int = 0  # student initialisation, pair sampling, epoch order

    # -- conversions -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain values (weights-only loadable, JSON-able)."""
        d = asdict(self)
        d["fidelity_pairs"] = [list(p) for p in self.fidelity_pairs]
        for key in ("student_taps", "pca_dims", "tracking_taps"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DistillConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        kw = dict(d)
        if "pairs" in kw and not isinstance(kw["pairs"], PairParams):
            kw["pairs"] = PairParams(**kw["pairs"])
        if "fidelity_pairs" in kw:
            kw["fidelity_pairs"] = tuple(tuple(p) for p in kw["fidelity_pairs"])
        for key in ("student_taps", "pca_dims", "tracking_taps"):
            if key in kw:
                kw[key] = tuple(kw[key])
        return cls(**kw)

    def validate(self) -> None:
        """A one-line :class:`UsageError` for settings that cannot work."""
        checks = [
            (self.width > 0, f"--width must be > 0 (got {self.width})"),
            (self.deep_convs >= 1, f"--deep-convs must be >= 1 (got {self.deep_convs})"),
            (self.batch_size >= 1, f"--batch-size must be >= 1 (got {self.batch_size})"),
            (self.epochs >= 1, f"--epochs must be >= 1 (got {self.epochs})"),
            (self.lr > 0, f"--lr must be > 0 (got {self.lr})"),
            (self.weight_decay >= 0, "--weight-decay must be >= 0"),
            (self.fidelity_weight >= 0, "--fidelity-weight must be >= 0"),
            (self.tracking_weight >= 0, "--tracking-weight must be >= 0"),
            (
                self.fidelity_weight > 0 or self.tracking_weight > 0,
                "--fidelity-weight and --tracking-weight cannot both be 0",
            ),
            (
                self.n_pairs >= self.batch_size,
                f"--pairs ({self.n_pairs}) must be at least --batch-size ({self.batch_size})",
            ),
            (self.val_pairs >= 0, "--val-pairs must be >= 0"),
            (self.pairs.crop_size >= 16, "--crop-size must be >= 16"),
            (self.dcf_lambda > 0, "the DCF lambda must be > 0"),
            (self.label_sigma > 0, "the label sigma must be > 0"),
            (len(self.fidelity_pairs) > 0, "give at least one fidelity tap pair"),
            (
                len(self.pca_dims) == len(self.fidelity_pairs),
                f"--pca-dims needs one value per fidelity tap ({len(self.fidelity_pairs)})",
            ),
            (all(d >= 0 for d in self.pca_dims), "--pca-dims values must be >= 0"),
            (0 <= self.warmup < 1 and 0 <= self.final_lr <= 1, "bad warm-up or final lr"),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(message)

    @property
    def student_tap_set(self) -> tuple[str, ...]:
        """Every tap the student network is built with."""
        wanted = [*self.student_taps, *(s for s, _ in self.fidelity_pairs), *self.tracking_taps]
        return tuple(dict.fromkeys(wanted))

    @property
    def target_px(self) -> float:
        """Target side in crop pixels (crop = context x target)."""
        return self.pairs.crop_size / self.pairs.context


@dataclass
class DistillResult:
    """What a run produced."""

    status: str  # "done" or "stopped" (max_steps reached; the checkpoint holds the state)
    out: Path | None  # the student file (None unless done)
    checkpoint: Path
    log: Path
    steps: int  # optimizer steps taken in total (including before a resume)
    losses: dict[str, float]  # means over the last epoch's steps (or the steps done)
    val: dict[str, float]  # validation metrics of the final student ({} without val data)
    teacher_val: dict[str, float]  # the same metrics on the teacher's maps
    timings: dict[str, float]  # seconds: teacher cache, training; crops the teacher ran on
    cache: Path  # the teacher-cache folder used
    meta: dict[str, Any] = field(default_factory=dict)  # the student file's metadata
    student: StudentNet | None = field(default=None, repr=False)  # as trained (this rank's)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/cftrack/teacher`` (``~/.cache/cftrack/teacher``)."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cftrack" / "teacher"


# -- the model being trained ------------------------------------------------------------------
class DistillModel(nn.Module):
    """Student plus adapters: ``forward(x) -> (student maps, adapted maps per pair)``."""

    def __init__(self, student: StudentNet, adapters: Mapping[str, nn.Module], taps: list[str]):
        super().__init__()
        self.student = student
        self.adapters = nn.ModuleDict(dict(adapters))
        self.taps = taps
        self.adapter_taps = {key: key.split("__to__")[0] for key in adapters}

    def forward(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        feats = self.student(x, self.taps)
        adapted = {k: a(feats[self.adapter_taps[k]]) for k, a in self.adapters.items()}
        return feats, adapted


def _adapter_key(student_tap: str, teacher_tap: str) -> str:
    return f"{student_tap}__to__{teacher_tap}"


def _build(config: DistillConfig, teacher: Any, cache_dims: dict[str, int]) -> DistillModel:
    try:
        student = StudentNet(
            vgg16_student_spec(config.width, config.student_tap_set, config.deep_convs)
        )
    except ValueError as exc:
        raise UsageError(f"bad student taps: {exc}") from None
    student.preprocessing = teacher.preprocessing
    adapters = {}
    for s, t in config.fidelity_pairs:
        s_info, t_info = student.tap_info(s), teacher.net.tap_info(t)
        if s_info.stride != t_info.stride:
            raise UsageError(
                f"fidelity pair {s}:{t}: the student tap has stride {s_info.stride}, the teacher "
                f"tap {t_info.stride}; pair taps of the same stride"
            )
        conv = nn.Conv2d(s_info.channels, cache_dims[t], 1)
        nn.init.zeros_(conv.bias)
        adapters[_adapter_key(s, t)] = conv
    return DistillModel(student, adapters, list(config.student_tap_set))


def _check_taps(config: DistillConfig, teacher: Any) -> None:
    teacher_taps = teacher.net.taps
    for _s, t in config.fidelity_pairs:
        if t not in teacher_taps:
            raise UsageError(f"the teacher has no tap {t!r}; it has {', '.join(teacher_taps)}")
    teachers = [t for _, t in config.fidelity_pairs]
    if len(set(teachers)) != len(teachers):
        raise UsageError("each teacher tap may appear in one fidelity pair only")


@torch.no_grad()
def _init_student(student: StudentNet, x: torch.Tensor, deepest: str) -> None:
    """Data-dependent init (LSUV-like): each conv's output gets unit std on a first batch.

    The teacher's input scale (Caffe: pixels minus the mean, std ~60) would otherwise make
    the first layers' outputs huge. Deterministic: same batch, same weights.
    """
    convs = [m for m in student.modules() if isinstance(m, nn.Conv2d)]
    for conv in convs:
        nn.init.zeros_(conv.bias)
        captured: list[torch.Tensor] = []
        handle = conv.register_forward_hook(lambda _m, _i, out, sink=captured: sink.append(out))
        student(x, [deepest])
        handle.remove()
        std = float(captured[0].std())
        if std > 1e-8:
            conv.weight.div_(std)


# -- schedule and order -------------------------------------------------------------------------
def lr_at(config: DistillConfig, step: int, total: int) -> float:
    """Linear warm-up, then cosine from ``lr`` to ``final_lr * lr``; a function of the step."""
    warm = max(1, round(config.warmup * total)) if config.warmup > 0 else 0
    if step < warm:
        return config.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    floor = config.final_lr
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The pairs' order in ``epoch``: a function of (seed, epoch) only."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return torch.randperm(n, generator=g).numpy()


# -- one batch ------------------------------------------------------------------------------------
@dataclass
class _Losses:
    trackers: dict[str, TrackingLoss]
    config: DistillConfig

    def __call__(
        self,
        model: nn.Module,
        cache: TeacherCache,
        idx: np.ndarray,
        device: torch.device,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        """(total loss, its named parts, the student's maps at every tap: templates first)."""
        cfg = self.config
        b = len(idx)
        crops = np.concatenate([cache.pairs.template[idx], cache.pairs.search[idx]])
        x = _preprocess(model, crops).to(device)
        feats, adapted = model(x)
        parts: dict[str, torch.Tensor] = {}
        fid = []
        for s, t in cfg.fidelity_pairs:
            target = cache.targets(t, idx).to(device)
            target = torch.cat([target[:, 0], target[:, 1]])  # templates, then searches
            parts[f"fid_{s}"] = fidelity_mse(adapted[_adapter_key(s, t)], target)
            fid.append(parts[f"fid_{s}"])
        parts["fidelity"] = torch.stack(fid).mean()
        shift = torch.from_numpy(np.ascontiguousarray(cache.pairs.shift[idx])).to(device)
        trk = []
        for tap in cfg.tracking_taps:
            f = feats[tap]
            parts[f"trk_{tap}"] = self.trackers[tap](f[:b], f[b:], shift)
            trk.append(parts[f"trk_{tap}"])
        zero = parts["fidelity"].new_zeros(())
        parts["tracking"] = torch.stack(trk).mean() if trk else zero
        total = cfg.fidelity_weight * parts["fidelity"] + cfg.tracking_weight * parts["tracking"]
        parts["total"] = total
        return total, parts, feats


def _student_of(model: nn.Module) -> StudentNet:
    inner = model.module if isinstance(model, DistributedDataParallel) else model
    return inner.student


def _preprocess(model: nn.Module, crops: np.ndarray) -> torch.Tensor:
    prep = _student_of(model).preprocessing
    assert prep is not None
    return prep(crops)


def _trackers(config: DistillConfig, student: StudentNet, taps: Sequence[str]) -> dict:
    s = config.pairs.crop_size
    out = {}
    for tap in taps:
        info = student.tap_info(tap)
        size = student.output_size(tap, (s, s))
        if min(size) < 2:
            raise UsageError(
                f"--crop-size {s} gives a {size[0]}x{size[1]} map at {tap} (stride "
                f"{info.stride}); the DCF needs at least 2x2: use larger crops"
            )
        sigma = max(0.5, config.label_sigma * config.target_px / info.stride)
        out[tap] = TrackingLoss(size, info.stride, sigma, config.dcf_lambda)
    return out


# -- validation ---------------------------------------------------------------------------------
@torch.no_grad()
def _localisation(
    trackers: Mapping[str, TrackingLoss],
    maps: Mapping[str, tuple[torch.Tensor, torch.Tensor]],
    shift: np.ndarray,
    target_px: float,
) -> dict[str, float]:
    """Per tap, and for the sum of the taps' responses (``fused``, on the finest grid, as ECO
    sums its layers): DCF peak error in pixels (median) and the fraction within a quarter of
    the target size."""
    out = {}
    responses = {}
    for tap, (tmpl, srch) in maps.items():
        tr = trackers[tap]
        dev = tr.label.device
        responses[tap] = tr.response(tmpl.to(dev), srch.to(dev)).cpu()
    fine = min(responses, key=lambda t: trackers[t].stride)
    if len(responses) > 1:
        size = tuple(responses[fine].shape[-2:])
        responses["fused"] = sum(upsample_periodic(r, size) for r in responses.values())
    for tap, response in responses.items():
        stride = trackers[fine if tap == "fused" else tap].stride
        peaks = peak_shifts(response) * stride
        err = np.hypot(*(peaks - shift).T)
        out[f"loc_err_px_{tap}"] = float(np.median(err))
        out[f"loc_ok_{tap}"] = float(np.mean(err <= 0.25 * target_px))
    return out


@torch.no_grad()
def _evaluate(
    model: nn.Module,
    cache: TeacherCache,
    losses: _Losses,
    trackers: Mapping[str, TrackingLoss],
    device: torch.device,
    batch: int,
) -> dict[str, float]:
    """Validation losses and the DCF localisation of the student's maps."""
    cfg = losses.config
    sums: dict[str, float] = {}
    tmpl: dict[str, list[torch.Tensor]] = {t: [] for t in trackers}
    srch: dict[str, list[torch.Tensor]] = {t: [] for t in trackers}
    n = len(cache)
    for lo in range(0, n, batch):
        idx = np.arange(lo, min(lo + batch, n))
        _, parts, feats = losses(model, cache, idx, device)  # its maps serve localisation too
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
        for t in trackers:
            tmpl[t].append(feats[t][: len(idx)].float().cpu())
            srch[t].append(feats[t][len(idx) :].float().cpu())
    out = {f"val_{k}": v / n for k, v in sums.items()}
    maps = {t: (torch.cat(tmpl[t]), torch.cat(srch[t])) for t in trackers}
    loc = _localisation(trackers, maps, cache.pairs.shift, cfg.target_px)
    out.update({f"val_{k}": v for k, v in loc.items()})
    return out


def _teacher_localisation(
    cache: TeacherCache, config: DistillConfig, trackers_by_teacher_tap: Mapping[str, TrackingLoss]
) -> dict[str, float]:
    """The same DCF localisation on the teacher's (standardised, projected) val maps."""
    idx = np.arange(len(cache))
    maps = {}
    for t in trackers_by_teacher_tap:
        m = cache.targets(t, idx)
        maps[t] = (m[:, 0], m[:, 1])
    loc = _localisation(trackers_by_teacher_tap, maps, cache.pairs.shift, config.target_px)
    return {f"teacher_{k}": v for k, v in loc.items()}


# -- checkpoints ----------------------------------------------------------------------------------
def read_distill_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by :func:`distill`; one-line errors for anything else."""
    p = Path(path).expanduser()
    try:
        obj = read_checkpoint(p, "checkpoint")
    except (KeyError, IndexError, TypeError, AttributeError):
        # torch's legacy (non-zip) loader fails on arbitrary bytes with these.
        raise UsageError(
            f"{p}: not a readable checkpoint file (corrupt or not a torch file)"
        ) from None
    if not isinstance(obj, Mapping) or obj.get("format") != CHECKPOINT_FORMAT:
        raise UsageError(f"{p}: not a cftrack distill checkpoint (written by --resume's runs)")
    if obj.get("format_version") != CHECKPOINT_VERSION:
        raise UsageError(
            f"{p}: distill checkpoint version {obj.get('format_version')!r}; this cftrack "
            f"reads version {CHECKPOINT_VERSION}"
        )
    for key in ("config", "student", "adapters", "optimizer", "epoch", "batch", "step"):
        if key not in obj:
            raise UsageError(f"{p}: damaged distill checkpoint (no {key!r})")
    return dict(obj)


def _config_differences(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    diffs = []
    for key in sorted(set(stored) | set(now)):
        a, b = stored.get(key), now.get(key)
        if a != b:
            if isinstance(a, Mapping) and isinstance(b, Mapping):
                diffs += [f"{key}.{d}" for d in _config_differences(a, b)]
            else:
                diffs.append(f"{key} {a!r} -> {b!r}")
    return diffs


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:20]


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    np_state = np.random.get_state()
    state["numpy"] = {
        "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "pos": int(np_state[2]),
        "has_gauss": int(np_state[3]),
        "gauss": float(np_state[4]),
    }
    return state


def _set_rng_state(state: Mapping[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    np_state = state.get("numpy")
    if np_state:
        keys = np_state["keys"].numpy().astype(np.uint32)
        np.random.set_state(
            ("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["gauss"])
        )


# -- the run ---------------------------------------------------------------------------------------
class _Log:
    """JSON lines, one object per line, each appended and closed at once; rank 0 only."""

    def __init__(self, path: Path, append: bool, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled
        if enabled and not append:
            path.write_text("", encoding="utf-8")  # a fresh run starts a fresh log

    def write(self, **record: Any) -> None:
        if self.enabled:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def close(self) -> None:
        self.enabled = False


def _teacher_record(teacher: Any, fingerprint: str) -> dict[str, Any]:
    path = getattr(teacher, "path", None)
    if path is not None and Path(path).is_file() and hasattr(teacher, "record"):
        return dict(teacher.record())
    return {
        "name": type(teacher.net).__name__,
        "weights_file": None,
        "sha256_prefix": fingerprint[:16],
        "preprocessing": teacher.preprocessing.name,
    }


def distill(
    config: DistillConfig,
    teacher: Any,
    sources: Sequence[Source],
    out: str | Path,
    *,
    val_sources: Sequence[Source] | None = None,
    resume: str | Path | None = None,
    checkpoint: str | Path | None = None,
    log: str | Path | None = None,
    cache_dir: str | Path | None = None,
    device: str = "auto",
    dist: DistContext | None = None,
    max_steps: int | None = None,
    log_every: int = 20,
    stop: StopFlag | None = None,
    reporter: Reporter | None = None,
    run_record: Mapping[str, Any] | None = None,
) -> DistillResult:
    """Distil ``teacher`` into a student saved at ``out`` (see the module notes).

    ``teacher``: a loaded :class:`~cftrack_cli.nets.teacher.Teacher`, or any object with
    ``net`` (a TappedNet whose taps include the fidelity pairs' teacher taps) and
    ``preprocessing``. ``checkpoint`` / ``log`` default to ``out`` with the suffixes
    ``.ckpt`` / ``.log.jsonl``; ``cache_dir`` to :func:`default_cache_dir`. ``max_steps``
    stops (with a checkpoint, status ``"stopped"``) once that many steps are done in total;
    ``stop.requested`` (Ctrl-C) stops at the next step boundary with a checkpoint and raises
    :class:`DistillInterrupted`. ``run_record``: plain values the caller wants kept in the
    checkpoint (the CLI's paths, so ``--resume`` alone can continue).
    """
    config.validate()
    own_dist = dist is None
    dist = dist or init_distributed(device)
    if config.batch_size < dist.world_size:
        if own_dist:
            dist.close()
        raise UsageError(
            f"--batch-size {config.batch_size} is smaller than the {dist.world_size} processes"
        )
    previous_det = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        run = _Run(
            config=config,
            teacher=teacher,
            sources=list(sources),
            val_sources=list(val_sources) if val_sources else None,
            paths=_run_paths(Path(out).expanduser(), checkpoint, log, cache_dir, dist),
            resume=Path(resume).expanduser() if resume else None,
            dist=dist,
            max_steps=max_steps,
            log_every=log_every,
            stop=stop,
            reporter=reporter if (reporter is not None and dist.is_main) else NullReporter(),
            run_record=dict(run_record or {}),
        )
        return _distill(run)
    finally:
        torch.use_deterministic_algorithms(previous_det, warn_only=previous_warn)
        if own_dist:
            dist.close()


@dataclass(frozen=True)
class _Paths:
    """Where a run writes: the student, its checkpoint and log; where the teacher cache is."""

    out: Path
    checkpoint: Path
    log: Path
    cache: Path


@dataclass
class _Run:
    """Everything :func:`distill` was asked to do, checked and with defaults filled in."""

    config: DistillConfig
    teacher: Any
    sources: list[Source]
    val_sources: list[Source] | None
    paths: _Paths
    resume: Path | None
    dist: DistContext
    max_steps: int | None
    log_every: int
    stop: StopFlag | None
    reporter: Reporter
    run_record: dict[str, Any]


@dataclass
class _Progress:
    """Where training stands: what a checkpoint saves and a resume restores."""

    epoch: int = 0
    batch: int = 0  # batches done in this epoch
    step: int = 0  # optimizer steps done in total
    elapsed: float = 0.0  # seconds spent in steps, over every run of this training
    losses: dict[str, float] = field(default_factory=dict)  # the last losses reported


@dataclass
class _Training:
    """The trainable model, its optimiser and the losses, as set up (or resumed)."""

    model: DistillModel
    optimizer: torch.optim.Optimizer
    losses: _Losses
    eval_trackers: dict[str, TrackingLoss]
    progress: _Progress


@dataclass(frozen=True)
class _Checkpointer:
    """Writes the run's checkpoint (rank 0 only): settings, inputs, weights and progress."""

    path: Path
    config: DistillConfig
    inputs: dict[str, str]  # fingerprints of the teacher and the data
    run_record: dict[str, Any]
    training: _Training
    enabled: bool

    def save(self, progress: _Progress, losses: dict[str, float]) -> None:
        if not self.enabled:
            return
        model, optimizer = self.training.model, self.training.optimizer
        obj = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "config": self.config.to_dict(),
            "inputs": self.inputs,
            "run": self.run_record,
            "student": model.student.state_dict(),
            "adapters": model.adapters.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": progress.epoch,
            "batch": progress.batch,
            "step": progress.step,
            "elapsed_s": progress.elapsed,
            "rng": _rng_state(),
            "losses": losses,
        }
        write_checkpoint(obj, self.path)


def _run_paths(
    out: Path,
    checkpoint: str | Path | None,
    log_path: str | Path | None,
    cache_dir: str | Path | None,
    dist: DistContext,
) -> _Paths:
    """The run's files (defaults next to ``out``), their folders checked writable."""
    if out.is_dir():
        raise UsageError(f"--out {out}: is a folder; give a file name such as weights/NAME.pth")
    ckpt_path = Path(checkpoint).expanduser() if checkpoint else out.with_suffix(".ckpt")
    log_file = Path(log_path).expanduser() if log_path else out.with_suffix(".log.jsonl")
    if dist.is_main:
        for folder in {out.parent, ckpt_path.parent, log_file.parent}:
            ensure_writable_dir(folder if str(folder) else Path("."))
    cache_root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    return _Paths(out, ckpt_path, log_file, cache_root)


def _resume_state(
    resume: Path | None, config: DistillConfig, inputs: Mapping[str, str]
) -> dict[str, Any] | None:
    """The checkpoint to resume from, refused when made with other settings or inputs."""
    if resume is None:
        return None
    state = read_distill_checkpoint(resume)
    diffs = _config_differences(state["config"], config.to_dict())
    if diffs:
        raise UsageError(
            f"--resume {resume}: made with other settings ({'; '.join(diffs[:6])}); "
            "resume with the settings it was made with"
        )
    stored = state.get("inputs", {})
    if stored.get("teacher") != inputs["teacher"]:
        raise UsageError(f"--resume {resume}: made with another teacher (weights differ)")
    if stored.get("data") != inputs["data"]:
        raise UsageError(f"--resume {resume}: made with other data (files or counts differ)")
    return state


def _teacher_targets(run: _Run) -> tuple[TeacherCache, TeacherCache | None, float]:
    """The teacher's maps of the training (and validation) crops, and the seconds it took."""
    config = run.config
    t0 = time.perf_counter()
    teacher_taps = [t for _, t in config.fidelity_pairs]
    cache = build_teacher_cache(
        run.teacher, teacher_taps, run.sources, config.n_pairs, config.pairs, config.seed,
        run.paths.cache, config.pca_dims, dist=run.dist, stop=run.stop, reporter=run.reporter,
    )  # fmt: skip
    val_cache = None
    if run.val_sources and config.val_pairs > 0:
        val_cache = build_teacher_cache(
            run.teacher, teacher_taps, run.val_sources, config.val_pairs, config.pairs,
            config.seed + 1, run.paths.cache, config.pca_dims, stats=cache.stats, dist=run.dist,
            stop=run.stop, reporter=run.reporter,
        )  # fmt: skip
    return cache, val_cache, time.perf_counter() - t0


def _set_up(run: _Run, cache: TeacherCache, state: dict[str, Any] | None) -> _Training:
    """The student, adapters, losses and optimiser: seeded fresh, or as the checkpoint left
    them (its random state restored last, so a resumed run continues bit-identically)."""
    config, device = run.config, run.dist.device
    torch.manual_seed(config.seed)
    np.random.seed(config.seed % 2**32)
    dims = {t: cache.stats[t].dims for _, t in config.fidelity_pairs}
    model = _build(config, run.teacher, dims)
    student = model.student
    trackers = {
        t: tr.to(device) for t, tr in _trackers(config, student, config.tracking_taps).items()
    }
    eval_taps = [s for s, _ in config.fidelity_pairs if s not in trackers]
    eval_trackers = {**trackers, **_trackers(config, student, list(dict.fromkeys(eval_taps)))}
    eval_trackers = {t: tr.to(device) for t, tr in eval_trackers.items()}
    losses = _Losses(trackers=trackers, config=config)
    if state is None:
        first = np.arange(min(len(cache), 32))
        crops = np.concatenate([cache.pairs.template[first], cache.pairs.search[first]])
        deepest = max(config.student_tap_set, key=lambda t: student.tap_info(t).stride)
        assert student.preprocessing is not None
        _init_student(student, student.preprocessing(crops), deepest)
    # Channels-last like the preprocessed input: oneDNN's fast CPU layout, and gradients then
    # have the parameters' strides (DDP's buckets expect that).
    model.to(device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    progress = _Progress()
    if state is not None:
        try:
            model.student.load_state_dict(state["student"])
            model.adapters.load_state_dict(state["adapters"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError) as exc:
            raise UsageError(f"--resume {run.resume}: damaged checkpoint ({exc})") from None
        progress = _Progress(
            epoch=int(state["epoch"]),
            batch=int(state["batch"]),
            step=int(state["step"]),
            elapsed=float(state.get("elapsed_s", 0.0)),
            losses=dict(state.get("losses", {})),
        )
        _set_rng_state(state.get("rng", {}))
    return _Training(model, optimizer, losses, eval_trackers, progress)


def _distill(run: _Run) -> DistillResult:
    config, teacher, dist = run.config, run.teacher, run.dist
    _check_taps(config, teacher)
    device = dist.device
    fingerprint = teacher_fingerprint(teacher)
    data_fp = _digest(data_fingerprint(run.sources))
    inputs = {"teacher": fingerprint, "data": data_fp}
    state = _resume_state(run.resume, config, inputs)

    # 1. teacher targets, computed once.
    cache, val_cache, teacher_s = _teacher_targets(run)
    teacher_crops = cache.computed + (val_cache.computed if val_cache else 0)
    teacher_taps = [t for _, t in config.fidelity_pairs]

    # 2. the student, adapters and optimiser.
    training = _set_up(run, cache, state)
    model, progress = training.model, training.progress
    run_record = run.run_record if state is None else {**state.get("run", {}), **run.run_record}
    steps_per_epoch = len(cache) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    train_model: nn.Module = model
    if dist.distributed:
        train_model = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    log = _Log(run.paths.log, append=state is not None, enabled=dist.is_main)
    teacher_val = {}
    if val_cache is not None:
        tmap = {t: _trackers(config, model.student, [s])[s] for s, t in config.fidelity_pairs}
        teacher_val = _teacher_localisation(val_cache, config, tmap)
    log.write(
        event="resume" if state is not None else "start",
        epoch=progress.epoch, step=progress.step, total_steps=total_steps,
        world_size=dist.world_size, device=str(device), teacher_crops_computed=teacher_crops,
        teacher_seconds=round(teacher_s, 2), cache=str(cache.folder),
        explained_variance={t: round(cache.stats[t].explained, 4) for t in teacher_taps},
        config=config.to_dict(), **teacher_val,
    )  # fmt: skip
    checkpoints = _Checkpointer(
        run.paths.checkpoint, config, inputs, run_record, training, dist.is_main
    )

    # 3. the loop.
    train_t0 = time.perf_counter()
    try:
        status, val = _train(run, training, train_model, cache, val_cache, log, checkpoints)
    finally:
        log.close()
    train_s = time.perf_counter() - train_t0

    timings = {
        "teacher_seconds": teacher_s,
        "teacher_crops": float(teacher_crops),
        "train_seconds": train_s,
        "steps_this_run": float(progress.step),
    }
    result = DistillResult(
        status=status, out=None, checkpoint=run.paths.checkpoint, log=run.paths.log,
        steps=progress.step, losses=progress.losses, val=val, teacher_val=teacher_val,
        timings=timings, cache=cache.folder, student=model.student,
    )  # fmt: skip
    if status != "done":
        return result
    meta = _student_meta(run, run_record, progress, cache, val, teacher_val, inputs)
    if dist.is_main:
        save_student(run.paths.out, model.student, meta)
        result.out = run.paths.out
    result.meta = meta
    dist.barrier()
    return result


def _train(
    run: _Run,
    training: _Training,
    train_model: nn.Module,
    cache: TeacherCache,
    val_cache: TeacherCache | None,
    log: _Log,
    checkpoints: _Checkpointer,
) -> tuple[str, dict[str, float]]:
    """The epochs still to do: ("done" | "stopped", validation metrics). ``training.progress``
    follows every step; a Ctrl-C (on any rank) stops at a step boundary with a checkpoint."""
    config, dist, stop = run.config, run.dist, run.stop
    model, optimizer, losses = training.model, training.optimizer, training.losses
    device = dist.device
    p = training.progress
    steps_per_epoch = len(cache) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    run.reporter.stage("training", total_steps - p.step)
    window: dict[str, list[float]] = {}
    epoch_sums: dict[str, float] = {}
    epoch_n = 0
    val: dict[str, float] = {}
    while p.epoch < config.epochs:
        order = epoch_order(config.seed, p.epoch, len(cache))
        while p.batch < steps_per_epoch:
            t_step = time.perf_counter()
            lr = lr_at(config, p.step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = order[p.batch * config.batch_size : (p.batch + 1) * config.batch_size]
            local = np.array_split(idx, dist.world_size)[dist.rank]
            total, parts, _ = losses(train_model, cache, local, device)
            share = len(local) * dist.world_size / len(idx)
            optimizer.zero_grad(set_to_none=True)
            (total * share).backward()
            optimizer.step()
            p.step += 1
            p.batch += 1
            names = list(parts)
            weighted = [float(parts[k].detach()) * len(local) / len(idx) for k in names]
            flags = [float(bool(stop is not None and stop.requested))]
            reduced = dist.sum(weighted + flags)
            values = dict(zip(names, reduced[: len(names)], strict=True))
            stop_now = reduced[-1] > 0
            p.elapsed += time.perf_counter() - t_step
            for k, v in values.items():
                window.setdefault(k, []).append(v)
                epoch_sums[k] = epoch_sums.get(k, 0.0) + v
            epoch_n += 1
            p.losses = values
            run.reporter.advance(
                1, epoch=p.epoch + 1, epochs=config.epochs, lr=lr,
                fidelity=values["fidelity"], tracking=values["tracking"],
            )  # fmt: skip
            if p.step % run.log_every == 0:
                log.write(
                    event="step", epoch=p.epoch + 1, step=p.step, lr=lr,
                    seconds=round(p.elapsed, 2),
                    **{k: round(float(np.mean(v)), 6) for k, v in window.items()},
                )  # fmt: skip
                window = {}
            if stop_now or (run.max_steps is not None and p.step >= run.max_steps):
                checkpoints.save(p, p.losses)
                log.write(event="stopped", epoch=p.epoch + 1, step=p.step, seconds=p.elapsed,
                          checkpoint=str(checkpoints.path))  # fmt: skip
                if stop_now:
                    raise DistillInterrupted(
                        f"stopped after step {p.step} of {total_steps}; the checkpoint "
                        f"{checkpoints.path} holds the run: add --resume {checkpoints.path} "
                        "to continue"
                    )
                return "stopped", val
        p.epoch += 1
        p.batch = 0
        means = {k: v / max(epoch_n, 1) for k, v in epoch_sums.items()}
        if val_cache is not None:
            model.eval()
            val = _evaluate(model, val_cache, losses, training.eval_trackers, device, 64)
            model.train()
        checkpoints.save(p, means)
        log.write(event="epoch", epoch=p.epoch, step=p.step, seconds=round(p.elapsed, 2),
                  **{k: round(v, 6) for k, v in means.items()},
                  **{k: round(v, 6) for k, v in val.items()})  # fmt: skip
        run.reporter.message(_epoch_line(p.epoch, config.epochs, means, val))
        p.losses, epoch_sums, epoch_n = means, {}, 0
    return "done", val


def _student_meta(
    run: _Run,
    run_record: Mapping[str, Any],
    progress: _Progress,
    cache: TeacherCache,
    val: Mapping[str, float],
    teacher_val: Mapping[str, float],
    inputs: Mapping[str, str],
) -> dict[str, Any]:
    """The finished student file's metadata: how it was made and how well it did."""
    config = run.config
    teacher_taps = [t for _, t in config.fidelity_pairs]
    return {
        "width": config.width,
        "preprocessing": run.teacher.preprocessing,
        "teacher": _teacher_record(run.teacher, inputs["teacher"]),
        "training": {
            "method": "distillation: fidelity (1x1 adapters, standardised/PCA teacher maps) "
            "+ DCF tracking loss",
            "settings": config.to_dict(),
            "data": describe_sources(run.sources),
            "data_digest": inputs["data"],
            "validation": describe_sources(run.val_sources) if run.val_sources else None,
            "steps": progress.step,
            "world_size": run.dist.world_size,
            "device": run.dist.device.type,
            "train_seconds": round(progress.elapsed, 1),
            "teacher_pca_explained": {t: round(cache.stats[t].explained, 4) for t in teacher_taps},
            **{k: v for k, v in run_record.items() if k in ("command", "data_paths")},
        },
        "metrics": {
            "final_losses": {k: round(v, 6) for k, v in progress.losses.items()},
            **{k: round(v, 6) for k, v in val.items()},
            **{k: round(v, 6) for k, v in teacher_val.items()},
        },
    }


def _epoch_line(epoch: int, epochs: int, means: Mapping[str, float], val: Mapping[str, float]):
    fid = ", ".join(f"{k[4:]} {v:.3f}" for k, v in means.items() if k.startswith("fid_"))
    text = (
        f"epoch {epoch}/{epochs}: fidelity {means.get('fidelity', 0):.3f} ({fid}), "
        f"tracking {means.get('tracking', 0):.3f}"
    )
    if val:
        loc = ", ".join(
            f"{k[len('val_loc_ok_') :]} {v:.2f}"
            for k, v in val.items()
            if k.startswith("val_loc_ok_")
        )
        text += f"; val fidelity {val.get('val_fidelity', 0):.3f}, located {loc}"
    return text
