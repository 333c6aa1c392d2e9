"""``cftrack track``: a video, image folder or camera in; an annotated video and a CSV out."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cftrack_cli.boxes import Box, parse_box
from cftrack_cli.cli.common import (
    INTERRUPTED,
    PeerModelsOption,
    TeacherPreprocessingOption,
    TeacherWeightsOption,
    WeightsOption,
    err_console,
    graceful_interrupt,
    handle_errors,
    tracker_options,
    with_weights,
)
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.io.annotations import first_box
from cftrack_cli.io.atomic import ensure_writable_dir, refuse_existing
from cftrack_cli.io.frames import open_frames
from cftrack_cli.io.writers import AnnotatedVideoWriter, TrackCsvWriter, draw_box
from cftrack_cli.threads import set_library_threads
from cftrack_cli.trackers import create_tracker, tracker_names
from cftrack_cli.trackers.registry import split_name
from cftrack_cli.trackers.session import track_frames

DEFAULT_TRACKER = "eco-student"
ONLINE_TRACKER = "eco-student-online"


def _online_variant(name: str) -> str:
    """``eco-student[@W]`` -> ``eco-student-online[@W]``; a one-line error for other trackers."""
    base, path = split_name(name)
    if base == ONLINE_TRACKER:
        return name
    if base != "eco-student":
        raise UsageError(
            f"--online-adapt adapts a student network: use it with -t eco-student, not {base!r}"
        )
    return ONLINE_TRACKER if path is None else f"{ONLINE_TRACKER}@{path}"


def _initial_box(box: str | None, box_file: Path | None, origin: int) -> Box:
    if (box is None) == (box_file is None):
        raise UsageError("give the target either as --box X,Y,W,H or as --box-file FILE")
    if box is not None:
        return parse_box(box)
    assert box_file is not None
    return first_box(box_file, one_based=origin == 1)


@handle_errors
def track(
    source: Annotated[
        str,
        typer.Argument(
            help="Video file (mp4, avi, mov, mkv), folder of images (or OTB sequence folder "
            "with img/), or a camera index such as 0.",
            show_default=False,
        ),
    ],
    box: Annotated[
        str | None,
        typer.Option("--box", "-b", help="Target in the first frame: x,y,w,h in pixels, 0-based."),
    ] = None,
    box_file: Annotated[
        Path | None,
        typer.Option(
            help="Take the target from the first row of a ground-truth file "
            "(comma, tab or space separated).",
        ),
    ] = None,
    box_file_origin: Annotated[
        int,
        typer.Option(
            min=0, max=1, help="Pixel origin of --box-file: 1 for OTB files, 0 for 0-based."
        ),
    ] = 1,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Where outputs go (default: ./cftrack-out/<input-name>/)."
        ),
    ] = None,
    csv: Annotated[
        str | None,
        typer.Option(
            help="Per-frame CSV path; '-' writes it to stdout (then stdout carries only CSV). "
            "(default: <output-dir>/boxes.csv)",
        ),
    ] = None,
    video: Annotated[
        bool, typer.Option(help="Write <output-dir>/annotated.mp4 (H.264) with box and score.")
    ] = True,
    tracker: Annotated[
        str,
        typer.Option(
            "--tracker", "-t", help=f"Tracker to run; one of: {', '.join(tracker_names())}."
        ),
    ] = DEFAULT_TRACKER,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many frames.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = (
        False
    ),
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a CSV or video left by an earlier run.")
    ] = False,
    online_adapt: Annotated[
        bool,
        typer.Option(
            "--online-adapt",
            help="With eco-student: first fine-tune the student's last layer on the target "
            f"against its background (the tracker {ONLINE_TRACKER}).",
        ),
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            min=1,
            help="Threads for the network and OpenCV (ECO's linear algebra always uses one, "
            "so the boxes are the same at any count). 1, the default, is cftrack's one-core "
            "promise and keeps a busy machine from slowing tracking; more help eco-teacher.",
        ),
    ] = 1,
    weights: WeightsOption = None,
    teacher_weights: TeacherWeightsOption = None,
    teacher_preprocessing: TeacherPreprocessingOption = None,
    peer_models: PeerModelsOption = None,
) -> None:
    """Track one object through a video; write a per-frame box CSV and an annotated video.

    The CSV has the header frame,x,y,w,h,score,lost: a 0-based frame index, the box in 0-based
    pixels, the tracker's confidence, and 1 where the tracker believes the target is lost
    (ECO trackers and OpenCV's peers; always 0 for trackers without that notion). Exit
    status: 0 done, 2 bad arguments or input, 1 failure while tracking, 130 interrupted (the
    frames done are kept).

    Example: cftrack track samples/bag.avi --box 291,127,146,132
    """
    init_box = _initial_box(box, box_file, box_file_origin)
    set_library_threads(threads)
    (name,) = with_weights([_online_variant(tracker) if online_adapt else tracker], weights)
    the_tracker = create_tracker(
        name, **tracker_options(teacher_weights, teacher_preprocessing, peer_models)
    )
    frames = open_frames(source)
    out_dir = output_dir or Path("cftrack-out") / frames.name
    csv_path = None if csv == "-" else Path(csv) if csv else out_dir / "boxes.csv"
    if video or (csv_path is not None and csv_path.parent == out_dir):
        ensure_writable_dir(out_dir)
    if csv_path is not None:
        ensure_writable_dir(csv_path.parent)
    video_path = out_dir / "annotated.mp4" if video else None
    refuse_existing([csv_path, video_path], overwrite)

    writers: list[TrackCsvWriter | AnnotatedVideoWriter] = []
    table = TrackCsvWriter(csv_path)
    writers.append(table)
    movie = AnnotatedVideoWriter(video_path, frames.fps) if video_path is not None else None
    if movie is not None:
        writers.append(movie)

    progress = Progress(
        TextColumn("[bold]tracking[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[fps]:>6.1f} fps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=False,
    )
    total = frames.frame_count
    if max_frames is not None and total is not None:
        total = min(total, max_frames)
    seconds = 0.0
    done = 0
    try:
        task = progress.add_task(frames.name, total=total, fps=0.0)
        with frames, graceful_interrupt() as stop:
            for step in track_frames(the_tracker, frames, init_box, max_frames):
                if step.index == 0:  # shown once the tracker accepted the first frame and box
                    progress.start()
                result = step.result
                if step.index > 0:  # frames/s counts updates; init is a one-off
                    seconds += step.seconds
                done += 1
                table.write(step.index, result.box, result.score, result.lost)
                if movie is not None:
                    movie.write(
                        draw_box(step.frame, result.box, result.score, step.index, result.lost)
                    )
                progress.update(task, advance=1, fps=(done - 1) / seconds if seconds > 0 else 0.0)
                if stop.requested:
                    raise KeyboardInterrupt
    except BaseException as exc:
        _finish(writers, progress, done, exc)
        if isinstance(exc, KeyboardInterrupt):
            err_console.print(
                f"cftrack: interrupted after {done} frames; the outputs hold those frames.",
                highlight=False,
            )
            raise typer.Exit(INTERRUPTED) from None
        if isinstance(exc, CftrackError) and done:
            # A bad frame mid-way (a corrupt or odd-sized image): the frames before it are kept.
            raise type(exc)(f"{exc}; the outputs hold the {done} frames before it") from None
        raise
    _finish(writers, progress, done, None)
    if done == 0:
        raise UsageError(f"{source}: no frames")
    if total is not None and done < total - 1:  # containers may miscount by one frame
        err_console.print(
            f"[yellow]cftrack: warning:[/] {escape(source)}: the video ended after {done} of "
            f"the {total} frames it declares (truncated or damaged?)",
            markup=True,
            soft_wrap=True,
        )
    if not quiet:
        fps = (done - 1) / seconds if seconds > 0 else 0.0
        wrote = [str(w.path) for w in writers if w.path is not None]
        err_console.print(
            f"tracked {done} frames with {the_tracker.name} at {fps:.1f} frames/s; "
            f"wrote {', '.join(wrote) or 'CSV to stdout'}",
            highlight=False,
            soft_wrap=True,
        )
    sys.stdout.flush()


def _finish(
    writers: list[TrackCsvWriter | AnnotatedVideoWriter],
    progress: Progress,
    done: int,
    exc: BaseException | None,
) -> None:
    """Stop the progress bar and settle the outputs once tracking stops: they are kept (closed)
    when it ended, was interrupted, or a bad frame came after good ones; otherwise (nothing
    tracked, or an internal error) they are removed, never left half-written."""
    progress.stop()
    keep = (
        exc is None
        or isinstance(exc, KeyboardInterrupt)
        or (isinstance(exc, CftrackError) and done > 0)
    )
    for w in writers:
        if keep:
            w.close()
        else:
            w.abort()
