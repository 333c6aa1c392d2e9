"""Run trackers over dataset sequences and write their result files, resumably and in parallel.

A job is one (tracker, sequence). :func:`plan_jobs` leaves out the finished ones (a box file with
one line per frame); :func:`run_jobs` runs the rest in this process or in a pool of spawned
processes, each pinned to one thread so timings stay comparable. Every job writes its own files
atomically (see :mod:`cftrack_cli.evaluation.results`): a killed run leaves finished sequences
and nothing half-written.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cftrack_cli.boxes import Box
from cftrack_cli.errors import CftrackError
from cftrack_cli.evaluation.datasets import Sequence
from cftrack_cli.evaluation.results import ResultFolder
from cftrack_cli.io.frames import read_images
from cftrack_cli.machine import arithmetic_basis
from cftrack_cli.threads import THREAD_ENV, library_threads, set_library_threads
from cftrack_cli.trackers.registry import display_name

_PROGRESS_EVERY = 5  # frames between progress messages from a worker


@dataclass(frozen=True)
class Job:
    tracker: str  # as given: a registry name, or NAME@WEIGHTS
    sequence: Sequence
    results_root: Path
    options: tuple[tuple[str, str], ...] = ()  # tracker options (teacher_weights=...)

    @property
    def folder(self) -> str:
        """The results sub-folder and report name (``NAME@<weights file stem>``)."""
        return display_name(self.tracker)

    @property
    def key(self) -> tuple[str, str]:
        return (self.folder, self.sequence.name)


@dataclass(frozen=True)
class JobResult:
    tracker: str
    sequence: str
    frames: int  # frames tracked (0 when the job failed)
    seconds: float  # time in init/update, decoding excluded
    error: str | None = None  # one line, when the job failed


def plan_jobs(
    sequences: list[Sequence],
    trackers: list[str],
    results: ResultFolder,
    force: bool = False,
    options: dict[str, str] | None = None,
) -> tuple[list[Job], list[tuple[str, str]]]:
    """The jobs still to run, and the (tracker, sequence) pairs already finished (skipped)."""
    todo: list[Job] = []
    skipped: list[tuple[str, str]] = []
    opts = tuple(sorted((options or {}).items()))
    for tracker in trackers:
        folder = display_name(tracker)
        for seq in sequences:
            if not force and results.is_done(folder, seq.name, seq.frame_count):
                skipped.append((folder, seq.name))
            else:
                todo.append(Job(tracker, seq, results.root, opts))
    return todo, skipped


def run_job(job: Job, progress: Callable[[int], None] | None = None) -> JobResult:
    """Track one sequence and write its box and times files.

    The tracker starts on the first frame whose ground truth holds a box (the first frame in
    OTB); earlier frames get NaN rows. Failures come back as ``JobResult.error``, not raised,
    so one broken sequence does not stop a long benchmark; Ctrl-C is raised.
    """
    from cftrack_cli.trackers import create_tracker  # registers every tracker (also in workers)
    from cftrack_cli.trackers.session import track_frames

    seq = job.sequence
    n = seq.frame_count
    try:
        present = np.flatnonzero(np.isfinite(seq.groundtruth).all(axis=1))
        if present.size == 0:
            raise CftrackError("the ground truth has no box in any frame")
        start = int(present[0])
        tracker = create_tracker(job.tracker, **dict(job.options))
        boxes = np.full((n, 4), np.nan)
        seconds = np.full(n, np.nan)
        scores = np.full(n, np.nan)
        lost = np.zeros(n, dtype=bool)
        unreported = 0
        init_box = Box(*(float(v) for v in seq.groundtruth[start]))
        for step in track_frames(tracker, read_images(seq.frames[start:]), init_box):
            boxes[start + step.index] = tuple(step.result.box)
            seconds[start + step.index] = step.seconds
            scores[start + step.index] = step.result.score
            lost[start + step.index] = step.result.lost
            unreported += 1
            if progress is not None and unreported >= _PROGRESS_EVERY:
                progress(unreported)
                unreported = 0
        if progress is not None and unreported:
            progress(unreported)
        ResultFolder(job.results_root).write(
            job.folder,
            seq.name,
            boxes,
            seconds,
            scores,
            lost if tracker.reports_lost else None,
            machine=arithmetic_basis(),
        )
    except CftrackError as exc:
        return JobResult(job.folder, seq.name, 0, 0.0, str(exc))
    except Exception as exc:  # a tracker bug must not end a long benchmark
        message = f"internal error: {type(exc).__name__}: {exc}"
        return JobResult(job.folder, seq.name, 0, 0.0, message)
    timed = seconds[np.isfinite(seconds)]
    return JobResult(job.folder, seq.name, int(timed.size), float(timed.sum()))


@contextlib.contextmanager
def single_thread_env() -> Iterator[None]:
    """Set :data:`THREAD_ENV` to 1 for processes started inside the block; restore after."""
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update(dict.fromkeys(THREAD_ENV, "1"))
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --- worker side -------------------------------------------------------------------------------

_WORKER_QUEUE: Any = None


def _worker_init(messages: Any) -> None:
    """Runs once in each spawned worker: one thread everywhere, Ctrl-C left to the parent."""
    global _WORKER_QUEUE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops workers on Ctrl-C
    set_library_threads(1)
    _WORKER_QUEUE = messages
    messages.put(("pid", os.getpid(), 0))


def _run_in_worker(job_id: int, job: Job) -> JobResult:
    messages = _WORKER_QUEUE
    return run_job(job, lambda n: messages.put(("frames", job_id, n)))


# --- parent side -------------------------------------------------------------------------------


def run_jobs(
    jobs: list[Job],
    workers: int = 1,
    on_frames: Callable[[int], None] | None = None,
    on_done: Callable[[JobResult], None] | None = None,
) -> list[JobResult]:
    """Run ``jobs``; ``workers`` > 1 uses that many spawned processes.

    ``on_frames(n)`` is called as frames finish (for a progress bar; the frames of a failed job
    are counted when it fails), ``on_done(result)`` as each job finishes. On Ctrl-C the workers
    are stopped, unfinished temporary files removed, and KeyboardInterrupt raised.
    """
    frames_cb = on_frames or (lambda n: None)
    done_cb = on_done or (lambda r: None)
    roots = {job.results_root for job in jobs}
    trackers = sorted({job.folder for job in jobs})
    try:
        if workers <= 1 or len(jobs) <= 1:
            return _run_here(jobs, frames_cb, done_cb)
        return _run_pool(jobs, workers, frames_cb, done_cb)
    finally:
        for root in roots:
            ResultFolder(root).remove_partials(trackers)


def _run_here(
    jobs: list[Job], on_frames: Callable[[int], None], on_done: Callable[[JobResult], None]
) -> list[JobResult]:
    out = []
    with library_threads(1):
        for job in jobs:
            reported = 0

            def count(n: int) -> None:
                nonlocal reported
                reported += n
                on_frames(n)

            result = run_job(job, count)
            if job.sequence.frame_count > reported:
                on_frames(job.sequence.frame_count - reported)
            on_done(result)
            out.append(result)
    return out


def _run_pool(
    jobs: list[Job],
    workers: int,
    on_frames: Callable[[int], None],
    on_done: Callable[[JobResult], None],
) -> list[JobResult]:
    ctx = multiprocessing.get_context("spawn")
    messages = ctx.Queue()
    pids: set[int] = set()
    reported = [0] * len(jobs)
    finished = [False] * len(jobs)

    def advance(job_id: int, n: int) -> None:
        if finished[job_id]:
            return
        n = min(n, jobs[job_id].sequence.frame_count - reported[job_id])
        if n > 0:
            reported[job_id] += n
            on_frames(n)

    def drain() -> None:
        while True:
            try:
                kind, a, b = messages.get_nowait()
            except queue_module.Empty:
                return
            if kind == "pid":
                pids.add(a)
            else:
                advance(a, b)

    results: list[JobResult] = []
    with single_thread_env():
        pool = ProcessPoolExecutor(
            max_workers=min(workers, len(jobs)),
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(messages,),
        )
        try:
            futures: dict[Future[JobResult], int] = {
                pool.submit(_run_in_worker, i, job): i for i, job in enumerate(jobs)
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                drain()
                for fut in done:
                    job_id = futures[fut]
                    try:
                        result = fut.result()
                    except Exception as exc:  # a worker died (killed, out of memory)
                        job = jobs[job_id]
                        result = JobResult(
                            job.folder, job.sequence.name, 0, 0.0, f"worker failed: {exc}"
                        )
                    advance(job_id, jobs[job_id].sequence.frame_count)
                    finished[job_id] = True
                    on_done(result)
                    results.append(result)
        except BaseException:
            _stop_workers(pool, drain, pids)
            raise
        pool.shutdown(wait=True)
    messages.close()
    return results


def _stop_workers(pool: ProcessPoolExecutor, drain: Callable[[], None], pids: set[int]) -> None:
    """Stop a pool that is being abandoned (Ctrl-C, an error): cancel what has not started,
    terminate the workers this pool started, wait for them.

    ``drain`` collects worker pids still in the message queue. A Ctrl-C that landed while the
    queue was being read, or a worker killed while starting, can leave a torn message there;
    reading it must not replace the exception that is on its way out.
    """
    pool.shutdown(wait=False, cancel_futures=True)
    with contextlib.suppress(Exception):
        drain()
    for pid in pids:  # only the workers this pool started
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    pool.shutdown(wait=True)
