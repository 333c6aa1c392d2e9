"""``cftrack track``: a video, image folder or camera in; an annotated video and a box table out.

One or several targets (``--box`` repeated, ``--box-file``, ``--select``), each with its own
tracker, in one pass over the frames from ``--start-frame`` to ``--end-frame``.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cftrack_cli.boxes import Box, corner_reading, format_box, parse_box
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
    warn,
    with_weights,
)
from cftrack_cli.cli.select import (
    DEFAULT_TIMEOUT,
    BrowserOption,
    box_arguments,
    choose_boxes,
)
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.io.annotations import target_boxes
from cftrack_cli.io.atomic import ensure_writable_dir, is_stream, refuse_existing
from cftrack_cli.io.frames import open_frames
from cftrack_cli.io.writers import (
    TABLE_FORMATS,
    AnnotatedVideoWriter,
    TrackTableWriter,
    draw_targets,
)
from cftrack_cli.threads import set_library_threads
from cftrack_cli.trackers import create_tracker, tracker_names
from cftrack_cli.trackers.multi import MultiTracker, track_targets
from cftrack_cli.trackers.registry import split_name

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


class TableFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    mot = "mot"


#: A target before numbering: its id from a box file, or None (numbered in order).
Given = tuple[int | None, Box]


def _given_targets(
    boxes: Sequence[str], box_files: Sequence[Path], origin: int, start: int
) -> list[Given]:
    """The targets of ``--box`` (in order) and then of each ``--box-file``."""
    given: list[Given] = [(None, parse_box(text)) for text in boxes]
    for path in box_files:
        given += target_boxes(path, one_based=origin == 1, frame=start)
    return given


def _number(given: Sequence[Given]) -> dict[int, Box]:
    """Ids for every target, in ascending order: a box file's own ids, the smallest free ones
    (from 1) for the rest, in the order given."""
    taken = {i for i, _ in given if i is not None}
    if len(taken) < sum(i is not None for i, _ in given):
        raise UsageError("two box files give the same target id; give each target its own id")
    free = (i for i in itertools.count(1) if i not in taken)
    numbered = [(i if i is not None else next(free), box) for i, box in given]
    return dict(sorted(numbered))


def _warn_odd_boxes(targets: dict[int, Box], width: int, height: int) -> None:
    """Boxes that are probably a mistake, said on stderr; they are tracked as given."""
    named = len(targets) > 1
    for target_id, box in targets.items():
        corners = corner_reading(box, width, height)
        if corners is not None:
            who = f"target {target_id}: " if named else ""
            warn(
                f"{who}box {format_box(box)} runs past the {width}x{height} frame "
                f"(to {box.x + box.w:g},{box.y + box.h:g}); it is read as x,y,w,h. If those "
                f"are corners x1,y1,x2,y2, give --box {format_box(corners)}"
            )
    seen: dict[Box, int] = {}
    for target_id, box in targets.items():
        if box in seen:
            warn(
                f"targets {seen[box]} and {target_id} have the same box {format_box(box)}; "
                "both are tracked, with identical results"
            )
        else:
            seen[box] = target_id


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
        list[str] | None,
        typer.Option(
            "--box",
            "-b",
            metavar="X,Y,W,H",
            help="A target in the start frame: x,y,w,h in pixels, 0-based. Repeat it for "
            "several targets (ids 1, 2, ... in order).",
        ),
    ] = None,
    box_file: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Targets from a file (comma, tab or space separated): a ground-truth file's "
            "row for the start frame; or one target per id,x,y,w,h row; or a MOTChallenge "
            "file's rows for the start frame. Repeatable.",
        ),
    ] = None,
    box_file_origin: Annotated[
        int,
        typer.Option(
            min=0, max=1, help="Pixel origin of --box-file: 1 for OTB and MOT files, 0 for 0-based."
        ),
    ] = 1,
    select: Annotated[
        bool,
        typer.Option(
            "--select",
            help="Draw the targets on the start frame in a browser first (see cftrack select); "
            "adds to any --box.",
        ),
    ] = False,
    select_timeout: Annotated[
        float,
        typer.Option(
            min=1,
            help="With --select: give up (exit 2) when no box is sent within this many seconds.",
        ),
    ] = DEFAULT_TIMEOUT,
    browser: BrowserOption = True,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", "-o", help="Where outputs go (default: ./cftrack-out/<input-name>/)."
        ),
    ] = None,
    csv: Annotated[
        str | None,
        typer.Option(
            help="Where the box table goes; '-' writes it to stdout (then stdout carries only "
            "the table, in any --format). A pipe or device is written to, never replaced. "
            "(default: <output-dir>/boxes.csv, boxes.jsonl or boxes.txt for mot)",
        ),
    ] = None,
    table_format: Annotated[
        TableFormat,
        typer.Option(
            "--format",
            help="csv: frame,x,y,w,h,score,lost (an id column after frame with several "
            "targets); jsonl: one JSON object per row; mot: MOTChallenge "
            "frame,id,x,y,w,h,conf,-1,-1,-1 with 1-based frames and pixels.",
        ),
    ] = TableFormat.csv,
    video: Annotated[
        bool | None,
        typer.Option(
            help="Write <output-dir>/annotated.mp4 (H.264), each target in its own colour. On "
            "by default, except with --csv - (a pipeline): then only with --video, and an "
            "annotated.mp4 left by an earlier run is refused unless --overwrite.",
            show_default=False,
        ),
    ] = None,
    tracker: Annotated[
        str,
        typer.Option(
            "--tracker", "-t", help=f"Tracker to run; one of: {', '.join(tracker_names())}."
        ),
    ] = DEFAULT_TRACKER,
    start_frame: Annotated[
        int,
        typer.Option(
            min=0,
            help="Start at this frame (0-based): the boxes refer to it. Rows keep the "
            "video's own frame numbers.",
        ),
    ] = 0,
    end_frame: Annotated[
        int | None, typer.Option(min=0, help="Stop after this frame (0-based, included).")
    ] = None,
    max_frames: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many frames.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar or summary.")] = (
        False
    ),
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Replace a table or video file left by an earlier run (regular files only).",
        ),
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
    """Track one or more objects through a video; write a per-frame box table and an annotated
    video.

    The CSV has the header frame,x,y,w,h,score,lost: the video's 0-based frame number, the box
    in 0-based pixels, the tracker's confidence, and 1 where the tracker believes the target is
    lost (ECO trackers and OpenCV's peers; always 0 for trackers without that notion). With
    several targets each has its own tracker and rows (frame,id,x,y,...). Exit status: 0 done,
    2 bad arguments or input, 1 failure while tracking, 130 interrupted (the frames done are
    kept).

    Examples: cftrack track samples/bag.avi --box 291,127,146,132;
    cftrack track clip.mp4 --box 10,20,40,60 --box 200,80,30,50 --format mot --csv -;
    cftrack track clip.mp4 --select
    """
    given = _given_targets(box or [], box_file or [], box_file_origin, start_frame)
    if not given and not select:
        raise UsageError(
            "give the target as --box X,Y,W,H (repeat it for several), --box-file FILE, "
            "or draw it with --select"
        )
    if end_frame is not None and end_frame < start_frame:
        raise UsageError(f"--end-frame {end_frame} comes before --start-frame {start_frame}")
    set_library_threads(threads)
    (name,) = with_weights([_online_variant(tracker) if online_adapt else tracker], weights)
    options = tracker_options(teacher_weights, teacher_preprocessing, peer_models)
    first_tracker = create_tracker(name, **options)  # a bad name or weights file stops us here
    fmt = table_format.value
    frames = open_frames(source)
    out_dir = output_dir or Path("cftrack-out") / frames.name
    csv_path = None if csv == "-" else Path(csv) if csv else out_dir / TABLE_FORMATS[fmt]
    csv_file = csv_path is not None and not is_stream(csv_path)
    if video is None:  # a pipeline asked for the table only
        video = csv_path is not None
    video_path = out_dir / "annotated.mp4" if video else None
    if (video and not is_stream(video_path)) or (csv_file and csv_path.parent == out_dir):
        ensure_writable_dir(out_dir)
    if csv_file:
        ensure_writable_dir(csv_path.parent)
    refuse_existing([csv_path, video_path], overwrite)

    count = frames.frame_count
    wanted = [max_frames]
    if end_frame is not None:
        wanted.append(end_frame - start_frame + 1)
    limit = min((n for n in wanted if n is not None), default=None)
    total = None if count is None else max(count - start_frame, 0)
    if total is not None and limit is not None:
        total = min(total, limit)
    with frames:
        stream = frames.frames_from(start_frame)
        first = next(stream, None)
        if first is None:
            raise UsageError(
                f"{source}: no frames"
                if start_frame == 0
                else f"{source}: has no frame {start_frame} (it ends before)"
            )
        if select:
            picked = choose_boxes(
                first, f"{frames.name}, frame {start_frame}", select_timeout, browser
            )
            if not quiet:
                err_console.print(f"selected: {box_arguments(picked)}", highlight=False)
            given += [(None, b) for b in picked]
        targets = _number(given)
        _warn_odd_boxes(targets, first.shape[1], first.shape[0])
        ids = list(targets)
        trackers = {ids[0]: first_tracker}
        trackers.update({i: create_tracker(name, **options) for i in ids[1:]})
        several = len(targets) > 1 or any(i is not None for i, _ in given)
        _run(
            MultiTracker(trackers),
            targets,
            itertools.islice(itertools.chain([first], stream), limit),
            start_frame,
            total,
            TrackTableWriter(csv_path, fmt, ids=several),
            AnnotatedVideoWriter(video_path, frames.fps) if video_path is not None else None,
            several,
            source,
            frames.name,
            quiet,
        )
    sys.stdout.flush()


def _run(
    multi: MultiTracker,
    targets: dict[int, Box],
    frames: itertools.islice,
    start_frame: int,
    total: int | None,
    table: TrackTableWriter,
    movie: AnnotatedVideoWriter | None,
    show_ids: bool,
    source: str,
    name: str,
    quiet: bool,
) -> None:
    """The tracking loop with its progress bar, and the outputs settled however it ends."""
    writers: list[TrackTableWriter | AnnotatedVideoWriter] = [table]
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
    seconds = 0.0
    done = 0
    try:
        task = progress.add_task(name, total=total, fps=0.0)
        with graceful_interrupt() as stop:
            for step in track_targets(multi, frames, targets, start_frame):
                if done == 0:  # shown once the trackers accepted the first frame and boxes
                    progress.start()
                else:  # frames/s counts updates; init is a one-off
                    seconds += step.seconds
                done += 1
                for target_id, result in step.results.items():
                    table.write(step.index, result.box, result.score, result.lost, target_id)
                if movie is not None:
                    drawn = [(i, r.box, r.score, r.lost) for i, r in step.results.items()]
                    movie.write(draw_targets(step.frame, step.index, drawn, show_ids))
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
    if total is not None and done < total - 1:  # containers may miscount by one frame
        warn(
            f"{source}: the video ended after {done} of the {total} frames it declares "
            "(truncated or damaged?)"
        )
    if not quiet:
        fps = (done - 1) / seconds if seconds > 0 else 0.0
        wrote = [str(w.path) for w in writers if w.path is not None]
        several = f" x {len(targets)} targets" if len(targets) > 1 else ""
        tracker_name = next(iter(multi.trackers.values())).name
        err_console.print(
            f"tracked {done} frames{several} with {tracker_name} at {fps:.1f} frames/s; "
            f"wrote {', '.join(wrote) or 'the table to stdout'}",
            highlight=False,
            soft_wrap=True,
        )


def _finish(
    writers: list[TrackTableWriter | AnnotatedVideoWriter],
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
