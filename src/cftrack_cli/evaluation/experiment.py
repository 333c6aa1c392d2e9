"""One-pass evaluation from Python, the way got10k's experiments work.

    from cftrack_cli.evaluation.experiment import Experiment

    exp = Experiment.open("data/OTB100", results_dir="runs/results", report_dir="runs/report")
    failed = exp.run(["dcf", "eco-hc"], workers=2)  # resumable: finished runs are kept
    rows, written = exp.report(["dcf", "eco-hc"])  # report.json, summary.md, plots
    print(rows[0].overall().success_auc)

``cftrack eval`` is a thin caller of this class: it parses options, draws progress and prints.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cftrack_cli.evaluation.datasets import Dataset, find_dataset, shard_sequences
from cftrack_cli.evaluation.report import Row, score_folder, write_report
from cftrack_cli.evaluation.results import ResultFolder
from cftrack_cli.evaluation.runner import Job, JobResult, plan_jobs, run_jobs
from cftrack_cli.io.atomic import ensure_writable_dir
from cftrack_cli.trackers import create_tracker
from cftrack_cli.trackers.registry import display_name, distinct_display_names, spec_of

__all__ = ["Experiment"]


def _stderr(message: str) -> None:
    print(f"cftrack: warning: {message}", file=sys.stderr)


@dataclass
class Experiment:
    """Trackers over one dataset: results in ``results`` (``<tracker>/<seq>.txt`` and timings),
    the report in ``report_dir``. ``options`` are tracker options (``teacher_weights``...);
    ``warn`` receives one-line warnings (odd result files)."""

    dataset: Dataset
    results: ResultFolder
    report_dir: Path
    options: dict[str, str] = field(default_factory=dict)
    warn: Callable[[str], None] = _stderr

    @classmethod
    def open(
        cls,
        dataset_dir: str | Path,
        results_dir: str | Path,
        report_dir: str | Path,
        *,
        sequences: list[str] | None = None,
        options: dict[str, str] | None = None,
        warn: Callable[[str], None] = _stderr,
    ) -> Experiment:
        """The experiment on the dataset at ``dataset_dir`` (any layout :func:`find_dataset`
        reads), optionally only the named ``sequences``."""
        dataset = find_dataset(Path(dataset_dir), sequences)
        return cls(dataset, ResultFolder(Path(results_dir)), Path(report_dir), options or {}, warn)

    # -- running ------------------------------------------------------------------------------
    def plan(
        self, trackers: list[str], force: bool = False, shard: tuple[int, int] | None = None
    ) -> tuple[list[Job], list[tuple[str, str]]]:
        """The runs still to do and those already finished (kept unless ``force``); ``shard``
        ``(K, N)`` keeps the sequences whose index % N == K."""
        for name in trackers:
            spec_of(name)  # unknown names fail here, before any work
        distinct_display_names(trackers)  # each tracker needs a results folder of its own
        sequences = list(self.dataset.sequences)
        if shard is not None:
            sequences = shard_sequences(sequences, *shard)
        return plan_jobs(sequences, trackers, self.results, force, self.options)

    def prepare(self, jobs: list[Job]) -> list[str]:
        """Create each tracker with work left once, so a missing or bad weights file is one
        error now, not one per sequence (loading VGG16 to skip finished runs is waste); the
        trackers' set-up notes (how a peer is configured) come back."""
        ensure_writable_dir(self.results.root)
        notes = []
        for name in dict.fromkeys(job.tracker for job in jobs):
            note = create_tracker(name, **self.options).setup_note
            if note:
                notes.append(note)
        return notes

    def run(self, trackers: list[str], workers: int = 1, force: bool = False) -> list[JobResult]:
        """Run ``trackers`` on every sequence not done yet; the failed runs come back."""
        jobs, _ = self.plan(trackers, force)
        self.prepare(jobs)
        return self.execute(jobs, workers)

    def execute(
        self,
        jobs: list[Job],
        workers: int = 1,
        on_frames: Callable[[int], None] | None = None,
        on_done: Callable[[JobResult], None] | None = None,
    ) -> list[JobResult]:
        """Run planned ``jobs`` (``workers`` > 1: in that many processes); the failed ones
        come back. ``on_frames(n)`` and ``on_done(result)`` report progress."""
        failed: list[JobResult] = []

        def done(result: JobResult) -> None:
            if result.error:
                failed.append(result)
            if on_done is not None:
                on_done(result)

        if jobs:
            run_jobs(jobs, workers, on_frames, done)
        return failed

    # -- scoring ------------------------------------------------------------------------------
    def rows(
        self, trackers: Iterable[str], extras: Iterable[Path] = (), drop_empty: bool = False
    ) -> list[Row]:
        """A report row per tracker (by registry name or results folder), plus one per
        ``<tracker>`` folder of each external results folder in ``extras``; ``drop_empty``
        leaves out (with a warning) trackers without results for this dataset."""
        rows = [
            score_folder(n, self.results, n, self.dataset, "cftrack", self.warn)
            for n in dict.fromkeys(display_name(t) for t in trackers)
        ]
        if drop_empty:
            for row in rows:
                if not row.scores:
                    self.warn(
                        f"{self.results.root / row.name}: no results for any sequence of "
                        f"{self.dataset.root}"
                    )
            rows = [r for r in rows if r.scores]
        taken = {r.name for r in rows}
        for folder in extras:
            store = ResultFolder(Path(folder))
            for tracker in store.trackers():
                name = tracker if tracker not in taken else f"{tracker} ({folder.resolve().name})"
                row = score_folder(name, store, tracker, self.dataset, str(folder), self.warn)
                if not row.scores:
                    self.warn(
                        f"{folder / tracker}: no results for any sequence of {self.dataset.root}"
                    )
                    continue
                taken.add(name)
                rows.append(row)
        return rows

    def report(
        self, trackers: Iterable[str], extras: Iterable[Path] = ()
    ) -> tuple[list[Row], list[Path]]:
        """Score and write ``report.json``, ``summary.md`` and the plots to ``report_dir``."""
        return self.write(self.rows(trackers, extras))

    def write(self, rows: list[Row]) -> tuple[list[Row], list[Path]]:
        """Write the report of ``rows`` to ``report_dir``."""
        ensure_writable_dir(self.report_dir)
        return rows, write_report(self.dataset, rows, self.report_dir)
