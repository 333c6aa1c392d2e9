"""``cftrack distill``: distil the VGG16 teacher into a small student for CF tracking."""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cftrack_cli.cli.common import (
    INTERRUPTED,
    TeacherPreprocessingOption,
    TeacherWeightsOption,
    err_console,
    graceful_interrupt,
    handle_errors,
)
from cftrack_cli.distill.data import discover_sources
from cftrack_cli.distill.reporting import DistillInterrupted
from cftrack_cli.distill.train import DistillConfig, distill, read_distill_checkpoint
from cftrack_cli.errors import UsageError
from cftrack_cli.io.atomic import check_output_file
from cftrack_cli.nets.teacher import load_teacher

TEACHERS = ("vgg16",)


class RichReporter:
    """The library's progress events as a rich progress bar (stderr) with losses and ETA."""

    def __init__(self, quiet: bool) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            disable=quiet,
        )
        self.quiet = quiet
        self.task: TaskID | None = None

    def stage(self, name: str, total: int | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, visible=False)
        self.task = self.progress.add_task(name, total=total, info="")
        self.progress.start()

    def advance(self, n: int = 1, **fields: Any) -> None:
        if self.task is None:
            return
        info = ""
        if "fidelity" in fields:
            info = (
                f"epoch {fields['epoch']}/{fields['epochs']}  fidelity {fields['fidelity']:.3f}"
                f"  tracking {fields['tracking']:.3f}  lr {fields['lr']:.1e}"
            )
        self.progress.update(self.task, advance=n, info=info)

    def message(self, text: str) -> None:
        if not self.quiet:
            self.progress.console.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        self.progress.stop()


def _csv(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UsageError(f"{what} is empty; give a comma-separated list")
    return items


def _fidelity_pairs(text: str | None) -> tuple[tuple[str, str], ...] | None:
    items = _csv(text, "--fidelity-taps")
    if items is None:
        return None
    pairs = []
    for item in items:
        student, _, teacher = item.partition(":")
        pairs.append((student.strip(), (teacher or student).strip()))
    return tuple(pairs)


def _ints(text: str | None, what: str) -> tuple[int, ...] | None:
    items = _csv(text, what)
    if items is None:
        return None
    try:
        return tuple(int(v) for v in items)
    except ValueError:
        raise UsageError(f"{what} {text!r}: expected comma-separated integers") from None


def _command_line() -> str:
    """How this run was asked for (kept in the student file's metadata)."""
    argv = sys.argv
    args = argv[argv.index("distill") + 1 :] if "distill" in argv else []
    return shlex.join(["cftrack", "distill", *args])


@handle_errors
def distill_command(
    data: Annotated[
        list[Path] | None,
        typer.Option(
            "--data",
            "-d",
            help="Training data: folders of images, video files, OTB-layout sequences "
            "(<seq>/img/ + groundtruth_rect.txt), in any mix; folders are searched recursively. "
            "Several may follow one --data, or repeat --data.",
            show_default=False,
        ),
    ] = None,
    more_data: Annotated[
        list[Path] | None, typer.Argument(hidden=True, metavar="[DATA]...")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The student weights file to write, e.g. weights/NAME.pth; the checkpoint "
            "and log go beside it (NAME.ckpt, NAME.log.jsonl).",
            show_default=False,
        ),
    ] = None,
    teacher: Annotated[str, typer.Option(help="Teacher network; only vgg16 today.")] = "vgg16",
    teacher_weights: TeacherWeightsOption = None,
    teacher_preprocessing: TeacherPreprocessingOption = None,
    width: Annotated[
        float | None, typer.Option(help="Student channels as a fraction of VGG16's. [0.125]")
    ] = None,
    deep_convs: Annotated[
        int | None,
        typer.Option(help="Student 3x3 convs at stride 16 (VGG16 has 3); more see wider. [1]"),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the pairs. [30]")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Pairs per step (global over DDP processes). [32]")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="AdamW peak learning rate. [2e-3]")] = None,
    fidelity_weight: Annotated[
        float | None, typer.Option(help="Weight of the fidelity loss. [1.0]")
    ] = None,
    tracking_weight: Annotated[
        float | None, typer.Option(help="Weight of the DCF tracking loss. [0.3]")
    ] = None,
    pairs: Annotated[
        int | None, typer.Option("--pairs", help="Training pairs to sample and cache. [8000]")
    ] = None,
    crop_size: Annotated[
        int | None, typer.Option(help="Side of the training crops in pixels. [200]")
    ] = None,
    fidelity_taps: Annotated[
        str | None,
        typer.Option(
            help="Fidelity pairs STUDENT[:TEACHER],... of equal stride. [conv3_3,conv5_3]"
        ),
    ] = None,
    pca_dims: Annotated[
        str | None,
        typer.Option(help="Teacher dims kept per fidelity pair by PCA; 0 = all. [64,128]"),
    ] = None,
    tracking_taps: Annotated[
        str | None, typer.Option(help="Student taps of the tracking loss. [conv5_3]")
    ] = None,
    val_data: Annotated[
        list[Path] | None,
        typer.Option(
            help="Held-out sequences/videos/images to report validation losses and DCF "
            "localisation on after every epoch (repeatable)."
        ),
    ] = None,
    val_pairs: Annotated[
        int | None, typer.Option(help="Validation pairs (with --val-data). [256]")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed: same seed, same weights. [0]")] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    threads: Annotated[
        int | None, typer.Option(min=1, help="CPU threads for torch (default: torch's choice).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue from a checkpoint; data, teacher, output and settings default to "
            "the checkpoint's, and settings given must match it.",
        ),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Teacher-feature cache (default: ~/.cache/cftrack/teacher)."),
    ] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="Checkpoint path (default: <out> with .ckpt).")
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option(min=1, help="Stop after this many steps in total, with a checkpoint."),
    ] = None,
    log_every: Annotated[int, typer.Option(min=1, help="Steps per log line.")] = 20,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace an existing --out file (and, without --resume, its checkpoint).",
        ),
    ] = False,
) -> None:
    """Distil the VGG16 teacher into a small student network for CF tracking.

    The student learns the teacher's feature maps at the taps the deep ECO tracker uses
    (fidelity loss, through 1x1 adapters, on standardised PCA-projected teacher maps) and to
    localise targets with the trackers' own closed-form correlation filter (tracking loss).
    Teacher features are computed once and cached. A checkpoint is written every epoch and on
    Ctrl-C; --resume continues exactly. Under torchrun every process trains on its share of
    each batch (DDP; gloo on CPU, NCCL on CUDA).

    Exit status: 0 done, 2 bad arguments or input, 1 failure, 130 interrupted (checkpoint kept).

    Example: cftrack distill --teacher-weights ../shared/weights/vgg16_imagenet_features_fp16.pth
    --data ../shared/data/distill --out weights/student.pth
    """
    if teacher not in TEACHERS:
        raise UsageError(f"--teacher {teacher!r}: the only teacher supported is vgg16")
    if threads is not None:
        torch.set_num_threads(threads)
    state = read_distill_checkpoint(resume) if resume is not None else None
    run = dict(state.get("run", {})) if state is not None else {}
    base = DistillConfig.from_dict(state["config"]) if state is not None else DistillConfig()

    given: dict[str, Any] = {
        "width": width,
        "deep_convs": deep_convs,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "fidelity_weight": fidelity_weight,
        "tracking_weight": tracking_weight,
        "n_pairs": pairs,
        "fidelity_pairs": _fidelity_pairs(fidelity_taps),
        "pca_dims": _ints(pca_dims, "--pca-dims"),
        "tracking_taps": tuple(t) if (t := _csv(tracking_taps, "--tracking-taps")) else None,
        "val_pairs": val_pairs,
        "seed": seed,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if "fidelity_pairs" in overrides and "pca_dims" not in overrides and state is None:
        overrides["pca_dims"] = tuple(0 for _ in overrides["fidelity_pairs"])
    config = replace(base, **overrides)
    if crop_size is not None:
        config = replace(config, pairs=replace(config.pairs, crop_size=crop_size))
    config.validate()

    data_paths = [*(data or []), *(more_data or [])]
    if not data_paths and run.get("data_paths"):
        data_paths = [Path(p) for p in run["data_paths"]]
    if not data_paths:
        raise UsageError("give the training data with --data DIR_OR_VIDEO [...]")
    val_paths = list(val_data or []) or [Path(p) for p in run.get("val_paths", [])]
    if out is None and run.get("out"):
        out = Path(run["out"])
    if out is None:
        raise UsageError("give the output file with --out weights/NAME.pth")
    check_output_file(out, "--out", overwrite)
    ckpt_path = checkpoint or out.with_suffix(".ckpt")
    if resume is None and not overwrite and ckpt_path.exists():
        # A fresh run would replace it at its first epoch: an earlier run's work, maybe unfinished.
        raise UsageError(
            f"{ckpt_path}: already exists (an earlier run's checkpoint); continue that run with "
            f"--resume {ckpt_path}, or pass --overwrite to start afresh"
        )
    if cache_dir is None and run.get("cache_dir"):
        cache_dir = Path(run["cache_dir"])  # a resumed run reads the same teacher cache
    weights_arg = teacher_weights or (
        Path(run["teacher_weights"]) if run.get("teacher_weights") else None
    )
    prep_arg = teacher_preprocessing or run.get("teacher_preprocessing")

    sources = discover_sources(data_paths)  # data errors before the teacher's 60 MB load
    val_sources = discover_sources(val_paths) if val_paths else None
    the_teacher = load_teacher(weights_arg, prep_arg)
    record = {
        "data_paths": [str(p.resolve()) for p in data_paths],
        "val_paths": [str(p.resolve()) for p in val_paths],
        "out": str(out.resolve()),
        "teacher_weights": str(the_teacher.path.resolve()),
        "teacher_preprocessing": the_teacher.preprocessing.name,
        "cache_dir": str(cache_dir.resolve()) if cache_dir else None,
        "command": _command_line(),
    }
    reporter = RichReporter(quiet)
    try:
        with graceful_interrupt() as stop:
            result = distill(
                config,
                the_teacher,
                sources,
                out,
                val_sources=val_sources,
                resume=resume,
                checkpoint=checkpoint,
                cache_dir=cache_dir,
                device=device,
                max_steps=max_steps,
                log_every=log_every,
                stop=stop,
                reporter=reporter,
                run_record=record,
            )
    except DistillInterrupted as exc:
        reporter.close()
        err_console.print(f"cftrack: {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(INTERRUPTED) from None
    finally:
        reporter.close()
    if result.status == "stopped":
        if not quiet:
            err_console.print(
                f"cftrack: stopped after {result.steps} steps (--max-steps); continue with "
                f"--resume {result.checkpoint}",
                highlight=False,
                soft_wrap=True,
            )
        return
    if result.out is not None and not quiet:
        losses = result.losses
        err_console.print(
            f"wrote {result.out} (fidelity {losses.get('fidelity', 0):.3f}, tracking "
            f"{losses.get('tracking', 0):.3f}; teacher {result.timings['teacher_seconds']:.0f} s"
            f" for {result.timings['teacher_crops']:.0f} crops, training "
            f"{result.timings['train_seconds']:.0f} s); log {result.log}",
            highlight=False,
            soft_wrap=True,
        )
