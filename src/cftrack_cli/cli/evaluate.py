"""``cftrack eval``: run trackers over a benchmark, score them with OTB metrics, write a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cftrack_cli.cli.common import (
    INTERRUPTED,
    PeerModelsOption,
    TeacherPreprocessingOption,
    TeacherWeightsOption,
    WeightsOption,
    err_console,
    handle_errors,
    tracker_options,
    with_weights,
)
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.evaluation.datasets import find_dataset, parse_shard, shard_sequences
from cftrack_cli.evaluation.experiment import Experiment
from cftrack_cli.evaluation.report import machines_of, rich_table
from cftrack_cli.evaluation.results import ResultFolder
from cftrack_cli.evaluation.runner import JobResult
from cftrack_cli.io.atomic import ensure_writable_dir
from cftrack_cli.trackers import tracker_names
from cftrack_cli.trackers.registry import distinct_display_names, spec_of

DEFAULT_RESULTS = Path("cftrack-eval/results")
DEFAULT_REPORT = Path("cftrack-eval/report")


def _names(text: str | None, what: str) -> list[str] | None:
    if text is None:
        return None
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise UsageError(f"{what} is empty; give a comma-separated list of names")
    return names


def _warn(message: str) -> None:
    err_console.print(f"[yellow]cftrack: warning:[/] {message}", markup=True, soft_wrap=True)


def _run(
    exp: Experiment,
    trackers: list[str],
    force: bool,
    shard: tuple[int, int] | None,
    workers: int,
    quiet: bool,
) -> list[JobResult]:
    """Run the jobs not done yet, with a progress bar; the failed jobs come back."""
    jobs, skipped = exp.plan(trackers, force, shard)
    notes = exp.prepare(jobs)
    if shard is not None:
        n_seq = len(shard_sequences(list(exp.dataset.sequences), *shard))
        where = f" (shard {shard[0]}/{shard[1]}: {n_seq} sequences)"
    else:
        where = ""
    if not quiet:
        err_console.print(
            f"{len(jobs)} tracker-sequence runs to do{where}, {len(skipped)} already done in "
            f"{exp.results.root}" + (" (kept; --force reruns them)" if skipped else ""),
            highlight=False,
            soft_wrap=True,
        )
        for note in notes:  # how a peer is configured (VitTrack's correction)
            err_console.print(f"note: {note}", highlight=False, soft_wrap=True)
    if not jobs:
        return []
    progress = Progress(
        TextColumn("{task.fields[last]:<22.22}"),
        BarColumn(bar_width=16),
        MofNCompleteColumn(),
        TextColumn("frames {task.fields[jobs]}/{task.fields[total_jobs]} runs"),
        TimeElapsedColumn(),
        TimeRemainingColumn(compact=True),
        console=err_console,
        disable=quiet,
    )
    total = sum(job.sequence.frame_count for job in jobs)
    with progress:
        task = progress.add_task("eval", total=total, jobs=0, total_jobs=len(jobs), last="starting")

        def on_done(result: JobResult) -> None:
            progress.update(
                task,
                jobs=progress.tasks[task].fields["jobs"] + 1,
                last=f"{result.tracker}/{result.sequence}",
            )
            if result.error:
                progress.console.print(
                    f"[bold red]cftrack: error:[/] {result.tracker} on {result.sequence}: "
                    f"{result.error}",
                    markup=True,
                    soft_wrap=True,
                )

        return exp.execute(jobs, workers, lambda n: progress.advance(task, n), on_done)


@handle_errors
def evaluate(
    dataset_dir: Annotated[
        Path,
        typer.Argument(
            help="Benchmark folder: OTB layout (<seq>/img/ + <seq>/groundtruth_rect.txt), "
            "UAV123 (data_seq/<seq>/ + anno/<seq>.txt) or VOT/GOT-10k (<seq>/groundtruth.txt; "
            "polygons are taken as their axis-aligned box).",
            show_default=False,
        ),
    ],
    trackers: Annotated[
        str | None,
        typer.Option(
            "--trackers",
            "-t",
            help=f"Comma-separated trackers to run: {', '.join(tracker_names())}. With "
            "--report-only: the result folders to report (default: all in --results-dir).",
            show_default=False,
        ),
    ] = None,
    report_dir: Annotated[
        Path,
        typer.Option(
            help="Where report.json, summary.md, success.png and precision.png go.",
        ),
    ] = DEFAULT_REPORT,
    results_dir: Annotated[
        Path,
        typer.Option(
            help="Per-frame results: <dir>/<tracker>/<seq>.txt (x,y,w,h per line, 1-based like "
            "OTB ground truth) and <dir>/<tracker>/times/<seq>_time.txt (seconds per frame). "
            "Sequences already there are skipped.",
        ),
    ] = DEFAULT_RESULTS,
    sequences: Annotated[
        str | None,
        typer.Option(help="Only these sequences (comma-separated names).", show_default=False),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run this many sequences at once, in separate processes each pinned to one "
            "thread (1 runs in this process, also on one thread).",
        ),
    ] = 1,
    extra_results: Annotated[
        list[Path] | None,
        typer.Option(
            "--extra-results",
            help="A folder of <tracker>/<seq>.txt results from elsewhere (e.g. published runs, "
            "1-based x,y,w,h); each <tracker> becomes a row without FPS. Repeatable.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Rerun sequences that already have results.")
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            help="K/N: run only sequences whose index (sorted by name) % N == K, K from 0 "
            "(e.g. --shard $SLURM_ARRAY_TASK_ID/8 with --array=0-7); writes no report, merge "
            "with --report-only afterwards.",
            show_default=False,
        ),
    ] = None,
    report_only: Annotated[
        bool,
        typer.Option(
            "--report-only", help="Run nothing; report what --results-dir (and extras) hold."
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar, summary or table.")
    ] = False,
    weights: WeightsOption = None,
    teacher_weights: TeacherWeightsOption = None,
    teacher_preprocessing: TeacherPreprocessingOption = None,
    peer_models: PeerModelsOption = None,
) -> None:
    """Benchmark trackers on a dataset, OTB style (one-pass evaluation).

    Runs each tracker over each sequence (from the ground truth's first box),
    keeps per-frame results in --results-dir, scores them, and writes
    report.json, summary.md, success.png and precision.png to --report-dir.

    \b
    Metrics, computed as the OTB toolkit and pysot-toolkit do:
      success AUC      mean over t = 0:0.05:1 of the fraction of frames with
                       IoU > t (ground truth against itself: 20/21 = 0.952)
      precision@20     fraction of frames with centre error <= 20 px
      norm. precision  mean over t = 0:0.01:0.5 of the fraction of frames
                       with centre error / target size <= t
      success@0.5      fraction of frames with IoU > 0.5
      FPS              frames / seconds in tracker updates (decoding and the
                       init frame excluded)
    Frames whose ground truth is NaN or zero-size are not scored; the first
    frame is. Overall = mean over the sequences a tracker has results for;
    the summary adds a table over the sequences common to every row.

    Resumable: a result file with one line per frame is kept (unless --force)
    and files are written whole or not at all, so running the same command
    again continues a killed run. Each result records the machine that tracked
    it (CPU and numpy, OpenCV, torch releases: another one can move the last
    bits); the summary names it, and eval warns when a report mixes several.

    Exit status: 0 done; 2 bad arguments or input; 1 some run failed (the
    rest is reported); 130 interrupted (finished sequences are kept).

    \b
    Examples:
      cftrack eval data/OTB100 -t dcf,opencv-csrt --workers 4
      cftrack eval data/OTB100 -t dcf --extra-results published_results
      cftrack eval data/OTB100 -t dcf --shard $SLURM_ARRAY_TASK_ID/8
      cftrack eval data/OTB100 --report-only --report-dir report
    """
    names = _names(trackers, "--trackers")
    if names is not None:
        names = with_weights(names, weights)
    options = tracker_options(teacher_weights, teacher_preprocessing, peer_models)
    only = _names(sequences, "--sequences")
    shard_kn = parse_shard(shard) if shard is not None else None
    extras = list(extra_results or [])
    if report_only and (force or shard_kn is not None):
        raise UsageError("--report-only runs nothing; it cannot be combined with --force/--shard")
    if not report_only:
        if names is None and not extras:
            raise UsageError("give the trackers to run: --trackers NAME[,NAME...]")
        for name in names or []:
            spec_of(name)  # unknown names fail here, before any work
        distinct_display_names(names or [])  # each tracker needs a results folder of its own
    if shard_kn is not None and not names:
        raise UsageError("--shard splits the runs of --trackers; give --trackers")
    dataset = find_dataset(dataset_dir, only)
    for seq in dataset.sequences:
        for note in seq.notes:
            _warn(note)
    results = ResultFolder(results_dir)
    exp = Experiment(dataset, results, report_dir, options, _warn)

    # Check the report inputs before hours of tracking.
    if report_only:
        available = results.trackers()
        if names is None:
            names = available
            if not names and not extras:
                raise UsageError(f"{results_dir}: no <tracker>/<sequence>.txt results to report")
        missing = [n for n in names if n not in available]
        if missing:
            raise UsageError(
                f"no results for {', '.join(missing)} in {results_dir}"
                + (f"; it holds: {', '.join(available)}" if available else "")
            )
    for folder in extras:
        if not folder.is_dir():
            raise UsageError(f"--extra-results {folder}: no such folder")
        if not ResultFolder(folder).trackers():
            raise UsageError(
                f"--extra-results {folder}: holds no <tracker>/<sequence>.txt result files"
            )
    if shard_kn is None:
        ensure_writable_dir(report_dir)

    failed: list[JobResult] = []
    if not report_only and names:
        try:
            failed = _run(exp, names, force, shard_kn, workers, quiet)
        except KeyboardInterrupt:
            err_console.print(
                f"cftrack: interrupted; finished sequences are kept in {results_dir}, "
                "run the same command again to continue.",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(INTERRUPTED) from None

    if shard_kn is not None:
        if not quiet:
            err_console.print(
                f"shard {shard_kn[0]}/{shard_kn[1]} done; when all shards are, write the report "
                f"with: cftrack eval {dataset_dir} --report-only --results-dir {results_dir}",
                highlight=False,
                soft_wrap=True,
            )
        _raise_failures(failed)
        return

    # every folder there (report-only, no --trackers): drop those of other datasets
    rows = exp.rows(names or [], extras, drop_empty=report_only and trackers is None)
    if not any(r.scores for r in rows):
        raise CftrackError("nothing to report: no results for any sequence of the dataset")
    _, written = exp.write(rows)
    machines = machines_of(rows)
    if len(machines) > 1:  # e.g. a run resumed on another host: its figures will not come again
        _warn(
            f"the results were tracked on {len(machines)} machines or library sets "
            "(summary.md lists them); a rerun on one of them can give other AUCs"
        )
    if not quiet:
        Console(highlight=False).print(rich_table(dataset, rows))
        err_console.print(
            f"wrote {', '.join(str(p) for p in written)}", highlight=False, soft_wrap=True
        )
    _raise_failures(failed)


def _raise_failures(failed: list[JobResult]) -> None:
    if failed:
        first = failed[0]
        raise CftrackError(
            f"{len(failed)} run(s) failed, first {first.tracker} on {first.sequence}: "
            f"{first.error}; the report leaves them out, rerun to retry them"
        )
