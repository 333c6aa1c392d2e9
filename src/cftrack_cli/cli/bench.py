"""``cftrack bench``: tracker speed on N pinned cores, side by side, per stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from cftrack_cli.bench import pin_to_cores, time_networks, time_trackers
from cftrack_cli.boxes import Box, parse_box
from cftrack_cli.cli.common import (
    PeerModelsOption,
    TeacherPreprocessingOption,
    TeacherWeightsOption,
    WeightsOption,
    err_console,
    handle_errors,
    tracker_options,
    with_weights,
)
from cftrack_cli.errors import UsageError
from cftrack_cli.io.annotations import first_box
from cftrack_cli.io.atomic import atomic_write_text, check_output_file
from cftrack_cli.io.frames import open_frames
from cftrack_cli.machine import describe_machine, machine_info
from cftrack_cli.trackers import Tracker, create_tracker, tracker_names
from cftrack_cli.trackers.registry import distinct_display_names, spec_of, split_name

DEFAULT_TRACKERS = (
    "eco-student",
    "eco-teacher",
    "eco-hc",
    "dcf",
    "opencv-nano",
    "opencv-vit",
    "opencv-csrt",
    "opencv-kcf",
)
SAMPLE = "bag.avi"
#: The package's own copy of samples/ (a link in a checkout, package data in a wheel).
PACKAGE_SAMPLES = Path(__file__).resolve().parents[1] / "samples"
WIDTH = 80  # the tables fit a standard terminal; --json keeps every figure


def _default_sequence() -> Path:
    """The clip the package carries: ``samples/bag.avi``."""
    candidate = PACKAGE_SAMPLES / SAMPLE
    if not candidate.is_file():
        raise UsageError(
            f"this installation lacks its sample clip {candidate}; give --sequence VIDEO_OR_FOLDER"
        )
    return candidate


def _sequence_box(source: Path, box: str | None) -> Box:
    if box is not None:
        return parse_box(box)
    for gt in (
        source / "groundtruth_rect.txt",
        source.with_name(f"{source.stem}_groundtruth_rect.txt"),
    ):
        if gt.is_file():
            return first_box(gt)
    raise UsageError(f"{source}: no ground truth beside it; give the target with --box X,Y,W,H")


def _choose_trackers(names: str | None) -> list[str]:
    known = set(tracker_names())
    if names is None:
        return [n for n in DEFAULT_TRACKERS if n in known]
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    if not chosen:
        raise UsageError("--trackers is empty")
    return chosen


def _available(names: list[str], options: dict[str, str], explicit: bool) -> dict[str, Tracker]:
    """One tracker of each name; the unavailable ones (no weights, no model files) fail the
    command when asked for (named with --trackers, or given a file or folder that does not
    serve) and are skipped, in one line, from the default list."""
    made: dict[str, Tracker] = {}
    skipped: list[str] = []
    for name in names:
        try:
            made[name] = create_tracker(name, **options)
        except UsageError as exc:
            asked = split_name(name)[1] is not None or spec_of(name).options & options.keys()
            if explicit or asked:
                raise
            skipped.append(f"{name} ({str(exc).split(': ')[0]})")
    if skipped:
        err_console.print(
            f"[yellow]cftrack: warning:[/] not available here, skipped: {', '.join(skipped)}; "
            "-t NAME says what each needs",
            markup=True,
            soft_wrap=True,
        )
    if not made:
        raise UsageError("none of the default trackers is available; name some with --trackers")
    return made


def _speed_table(results: dict[str, Any], baseline: str, repeats: int) -> Table:
    table = Table(
        title=f"update speed (init excluded), median of {repeats} repeat(s)",
        title_justify="left",
    )
    table.add_column("tracker")
    for column in ("frames/s", "ms/frame", f"x {baseline}", "init ms", "peak MB"):
        table.add_column(column, justify="right")
    base_fps = results[baseline]["fps"]
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["fps"]):
        table.add_row(
            name,
            f"{r['fps']:.1f}",
            f"{r['ms_per_frame']:.2f}",
            f"{r['fps'] / base_fps:.1f}",
            f"{r['init_ms']:.0f}",
            f"{r['peak_rss_mb']:.0f}",
        )
    return table


def _stages_table(results: dict[str, Any]) -> Table:
    """Each tracker's frame split by stage, folded into one cell so any number of stages fits."""
    table = Table(title="where the time goes, ms per frame by stage", title_justify="left")
    table.add_column("tracker", no_wrap=True)
    table.add_column("stages")
    for name, r in sorted(results.items(), key=lambda kv: -kv[1]["fps"]):
        stages = r["stages_ms"]
        order = [*sorted(set(stages) - {"other"}), "other"]
        table.add_row(name, "  ".join(f"{s.replace('_', ' ')} {stages[s]:.2f}" for s in order))
    return table


def _network_rows_table(results: dict[str, Any]) -> Table | None:
    deep = {n: r["network"] for n, r in results.items() if "network" in r}
    if not deep:
        return None
    table = Table(title="networks", title_justify="left")
    table.add_column("tracker")
    for column in ("params", "MMAC", "file MB"):
        table.add_column(column, justify="right")
    for name, net in deep.items():
        table.add_row(name, *_network_cells(net))
    return table


def _network_cells(net: dict[str, Any]) -> list[str]:
    size = net.get("file_bytes")
    return [
        f"{net['parameters']:,}",
        f"{net['macs'] / 1e6:,.0f}",
        f"{size / 2**20:.2f}" if size else "-",
    ]


def _networks_table(networks: dict[str, Any]) -> Table:
    table = Table(title="networks alone: one forward pass at the tracker's sample size, median")
    for column in ("tracker", "taps", "input px", "ms", "x fastest", "params", "MMAC", "file MB"):
        table.add_column(column, justify="left" if column in ("tracker", "taps") else "right")
    fastest = min(n["ms"] for n in networks.values())
    for name, n in sorted(networks.items(), key=lambda kv: kv[1]["ms"]):
        table.add_row(
            name,
            ", ".join(n["taps"]),
            str(n["input_px"]),
            f"{n['ms']:.2f}",
            f"{n['ms'] / fastest:.1f}",
            *_network_cells(n),
        )
    return table


@handle_errors
def bench(
    cpu_cores: Annotated[
        int, typer.Option(min=1, help="Pin the process and every thread pool to this many cores.")
    ] = 1,
    trackers: Annotated[
        str | None,
        typer.Option(
            "--trackers",
            "-t",
            help="Comma-separated trackers (default: "
            f"{', '.join(DEFAULT_TRACKERS)}, those available).",
        ),
    ] = None,
    sequence: Annotated[
        Path | None,
        typer.Option(
            help="Video or image folder to time on (default: the package's own bag.avi); "
            "its ground truth's first box is the target unless --box is given.",
        ),
    ] = None,
    box: Annotated[str | None, typer.Option(help="Target x,y,w,h in the first frame.")] = None,
    frames: Annotated[int, typer.Option(min=2, help="Frames to use (the first starts).")] = 150,
    repeats: Annotated[
        int, typer.Option(min=1, help="Interleaved repeats; the median is reported.")
    ] = 3,
    baseline: Annotated[
        str | None,
        typer.Option(help="Tracker the speed-up column divides by (default: the slowest)."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing --json file.")
    ] = False,
    networks: Annotated[
        bool,
        typer.Option(
            "--networks",
            help="Networks-only mode: time each deep tracker's CNN (teacher, students) alone "
            "at the tracker's sample size, instead of the trackers.",
        ),
    ] = False,
    weights: WeightsOption = None,
    teacher_weights: TeacherWeightsOption = None,
    teacher_preprocessing: TeacherPreprocessingOption = None,
    peer_models: PeerModelsOption = None,
) -> None:
    """Time trackers on N pinned cores, side by side, with a per-stage split.

    Decoding is done before timing; only update() is timed, init() is reported apart. Repeats
    run interleaved (A B C, A B C, ...) and the median is reported, so ratios hold on a noisy
    machine. The tables fit 80 columns; --json keeps every figure (per repeat, per stage).

    \b
    Examples:
      cftrack bench --cpu-cores 1
      cftrack bench -t dcf,opencv-csrt --sequence clip.mp4 --box 10,20,50,40
    """
    if json_path is not None:  # before minutes of timing, not after
        check_output_file(json_path, "--json", overwrite)
    names = with_weights(_choose_trackers(trackers), weights)
    options = tracker_options(teacher_weights, teacher_preprocessing, peer_models)
    distinct_display_names(names)
    for name in names:
        spec_of(name)  # an unknown name is a mistake even in a default list
    made = _available(names, options, explicit=trackers is not None)
    shown = {tracker.name: name for name, tracker in made.items()}
    if baseline is not None and baseline not in shown:
        raise UsageError(f"--baseline {baseline} is not among the trackers timed")
    notes = [t.setup_note for t in made.values() if t.setup_note]
    source = sequence or _default_sequence()
    target = _sequence_box(source, box)
    cores = pin_to_cores(cpu_cores)
    machine = machine_info(cores)  # before timing: the load is the host's, not ours
    with open_frames(source) as stream:
        clip = [f for _, f in zip(range(frames), stream, strict=False)]
    if networks:
        nets = time_networks(
            {tracker.name: tracker for tracker in made.values()},
            clip[0],
            target,
            repeats=max(5, repeats),
        )
        if not nets:
            raise UsageError("--networks: none of the trackers has a network (try eco-student)")
        typer.echo(_render(_networks_table(nets)))
        if json_path is not None:
            report = {"networks": nets, "machine": machine, "sequence": str(source)}
            atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
        return
    progress = Progress(
        TextColumn("[bold]bench[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    )
    with progress:
        task = progress.add_task("", total=repeats * len(names))
        timings = time_trackers(
            {
                shown_name: (lambda n=n: create_tracker(n, **options))
                for shown_name, n in shown.items()
            },
            clip,
            target,
            repeats=repeats,
            on_step=lambda n, r: progress.update(task, advance=1, description=f"{n} #{r + 1}"),
        )
    results = {n: t.as_dict() for n, t in timings.items()}
    if baseline is None:
        baseline = min(results, key=lambda n: results[n]["fps"])
    report = {"trackers": results, "machine": machine, "baseline": baseline,
              "sequence": str(source), "frames": len(clip)}  # fmt: skip
    err_console.print(
        f"{describe_machine(machine)}, {len(cores)} core(s) {cores}; torch {machine['torch']}, "
        f"OpenCV {machine['opencv']}, numpy {machine['numpy']}; {source.name}, "
        f"{len(clip) - 1} timed frames x {repeats} repeats",
        highlight=False,
        soft_wrap=True,
    )
    for note in notes:
        err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    tables = [_speed_table(results, baseline, repeats), _stages_table(results)]
    tables += [t for t in [_network_rows_table(results)] if t is not None]
    typer.echo("\n\n".join(_render(t) for t in tables))
    if json_path is not None:
        atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")


def _render(table: Table) -> str:
    from rich.console import Console

    console = Console(width=WIDTH, record=True, file=None)
    with console.capture() as capture:
        console.print(table)
    return "\n".join(line.rstrip() for line in capture.get().rstrip("\n").splitlines())
