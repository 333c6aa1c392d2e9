"""Score result folders against a dataset and write the report: JSON, plots, Markdown, a table.

Every row of a report is one tracker: a cftrack tracker whose results this tool wrote (with
timings, hence fps), or a folder of external results (``--extra-results``), scored the same way
and shown without fps. A row's ``overall`` numbers are the mean over the sequences it has results
for (``sequences_covered``); the "common" numbers, over the sequences every row has, are the
fair comparison when some rows cover fewer sequences.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cftrack_cli.evaluation.datasets import Dataset
from cftrack_cli.evaluation.failure import FailureFrames, failure_frames, pool
from cftrack_cli.evaluation.metrics import (
    IOU_THRESHOLDS,
    METRIC_KEYS,
    NORM_THRESHOLDS,
    PIXEL_THRESHOLDS,
    Scores,
    fps_of,
    frames_per_second,
    mean_scores,
    score_sequence,
)
from cftrack_cli.evaluation.results import ResultFolder
from cftrack_cli.io.atomic import atomic_write_text, partial_path
from cftrack_cli.machine import describe_basis


@dataclass(frozen=True)
class Metric:
    """One reported number: its key in :class:`Scores`, its names, and how it is computed."""

    key: str
    short: str  # terminal column
    header: str  # Markdown column
    rule: str  # the convention, in words (JSON, Markdown and the terminal caption quote it)


# The scoring conventions, written once; the JSON, the Markdown and the terminal table quote them.
METRICS = (
    Metric(
        "success_auc",
        "AUC",
        "Success AUC",
        "mean over t = 0:0.05:1 (21 points) of the fraction of frames with IoU > t (ground truth "
        "against itself scores 20/21 = 0.952, as in the OTB toolkit)",
    ),
    Metric(
        "precision_20", "P@20", "Precision@20px", "fraction of frames with centre error <= 20 px"
    ),
    Metric(
        "norm_precision",
        "NP",
        "Norm. precision",
        "mean over t = 0:0.01:0.5 of the fraction of frames with centre error / ground-truth "
        "w, h (per axis) <= t",
    ),
    Metric("success_50", "SR@.5", "Success@0.5", "fraction of frames with IoU > 0.5"),
)
assert tuple(m.key for m in METRICS) == METRIC_KEYS

FRAMES_RULE = (
    "frames with absent ground truth (NaN or zero size) are not scored; the first frame is "
    "scored; a missing or NaN prediction scores IoU 0 and infinite centre error"
)
OVERALL_RULE = (
    "each row is the mean over the sequences it has results for (each sequence weighs the "
    "same); 'common' = mean over the sequences every row has"
)
FPS_RULE = (
    "frames / seconds in the tracker's update (decoding and the init frame excluded), pooled "
    "over sequences; none for external results"
)
FAILURE_RULE = (
    "frames with IoU < 0.05 are 'failed', IoU > 0.3 'tracked'; score AUROC = the chance a "
    "tracked frame scores above a failed one (0.5: the score says nothing); lost on failed / "
    "lost on tracked = the share flagged lost; pooled over sequences"
)

CONVENTIONS = {
    "boxes": "x,y,w,h; result files and ground truth both 1-based (OTB), scored as read",
    **{m.key: m.rule for m in METRICS},
    "curves": "success over IoU thresholds 0:0.05:1, precision over 0..50 px, normalised "
    "precision over 0:0.01:0.5",
    "frames": FRAMES_RULE,
    "overall": OVERALL_RULE,
    "fps": FPS_RULE,
    "failure_detection": FAILURE_RULE + "; null where the tracker has no lost flag",
}


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _markdown_rule(text: str) -> str:
    """A rule with its comparisons in bold (``IoU **>** t``): the part readers misremember."""
    return re.sub(r" (<=|>=|<|>) ", r" **\1** ", text)


@dataclass
class Row:
    """One tracker's scores on the sequences it has results for."""

    name: str
    source: str  # "cftrack" for trackers run by this tool, else the external folder
    scores: dict[str, Scores] = field(default_factory=dict)  # by sequence, dataset order
    timing: dict[str, tuple[int, float]] = field(default_factory=dict)  # seq -> frames, seconds
    failures: dict[str, FailureFrames] = field(default_factory=dict)  # seq -> score/lost split
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)  # seq -> who tracked it

    @property
    def external(self) -> bool:
        return self.source != "cftrack"

    def overall(self, sequences: Iterable[str] | None = None) -> Scores | None:
        names = self.scores.keys() if sequences is None else sequences
        return mean_scores([self.scores[n] for n in names if n in self.scores])

    def fps(self, sequences: Iterable[str] | None = None) -> float | None:
        if self.external:
            return None
        names = self.timing.keys() if sequences is None else sequences
        return fps_of([self.timing[n] for n in names if n in self.timing])


def score_folder(
    name: str,
    folder: ResultFolder,
    tracker_dir: str,
    dataset: Dataset,
    source: str,
    warn: Callable[[str], None],
) -> Row:
    """Score ``folder/<tracker_dir>/<seq>.txt`` for every dataset sequence that has one."""
    row = Row(name, source)
    for seq in dataset.sequences:
        pred = folder.read_boxes(tracker_dir, seq.name)
        if pred is None:
            continue
        n = seq.frame_count
        where = f"{folder.root / tracker_dir}/{seq.name}.txt"
        if len(pred) < n:
            warn(f"{where}: {len(pred)} rows for {n} frames; the missing frames count as failures")
        elif len(pred) > n:
            warn(f"{where}: {len(pred)} rows for {n} frames; the extra rows are ignored")
        row.scores[seq.name] = score_sequence(pred, seq.groundtruth)
        if not row.external:
            times = folder.read_times(tracker_dir, seq.name)
            if times is not None:
                row.timing[seq.name] = frames_per_second(times)
            machine = folder.read_machine(tracker_dir, seq.name)
            if machine is not None:
                row.machines[seq.name] = machine
            confidence = folder.read_scores(tracker_dir, seq.name)
            if confidence is not None:
                row.failures[seq.name] = failure_frames(pred, seq.groundtruth, *confidence)
    return row


def machines_of(rows: list[Row]) -> list[tuple[dict[str, Any], int]]:
    """The distinct machines (CPU and library releases) that tracked the cftrack rows' results,
    with how many results each; in order of first appearance."""
    seen: dict[str, tuple[dict[str, Any], int]] = {}
    for row in rows:
        for machine in row.machines.values():
            key = json.dumps(machine, sort_keys=True)
            basis, count = seen.get(key, (machine, 0))
            seen[key] = (basis, count + 1)
    return list(seen.values())


def unrecorded_results(rows: list[Row]) -> int:
    """cftrack results without a machine record (written before cftrack kept one)."""
    return sum(len(set(r.scores) - set(r.machines)) for r in rows if not r.external)


def common_sequences(rows: list[Row], dataset: Dataset) -> list[str]:
    """Dataset sequences every row (with any results) has results for."""
    covered = [set(r.scores) for r in rows if r.scores]
    if not covered:
        return []
    common = set.intersection(*covered)
    return [n for n in dataset.names() if n in common]


def _num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def _numbers(scores: Scores | None, fps: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {k: _num(getattr(scores, k)) if scores else None for k in METRIC_KEYS}
    out["fps"] = _num(fps, 2)
    return out


def _auc(scores: Scores | None) -> float:
    return scores.success_auc if scores is not None else -1.0


def ranked(rows: list[Row], sequences: list[str] | None = None) -> list[Row]:
    """Rows by success AUC, best first (on ``sequences`` if given); ties by name."""
    return sorted(rows, key=lambda r: (-_auc(r.overall(sequences)), r.name.lower()))


def build_report(dataset: Dataset, rows: list[Row]) -> dict[str, Any]:
    """The ``report.json`` content."""
    common = common_sequences(rows, dataset)
    trackers: dict[str, Any] = {}
    for row in ranked(rows):
        overall = row.overall()
        entry: dict[str, Any] = {
            "source": row.source,
            "overall": _numbers(overall, row.fps()),
            "sequences_covered": len(row.scores),
            "sequences": {
                name: {
                    **_numbers(s, row.fps([name])),
                    "frames_scored": s.frames,
                }
                for name, s in row.scores.items()
            },
        }
        attributes = {}
        for tag in dataset.attributes:
            names = [s.name for s in dataset.sequences if tag in s.attributes]
            scores = row.overall(names)  # None when the row has none of them
            attributes[tag] = {
                "success_auc": _num(scores.success_auc) if scores else None,
                "precision_20": _num(scores.precision_20) if scores else None,
                "sequences": sum(1 for n in names if n in row.scores),
            }
        if dataset.attributes:
            entry["attributes"] = attributes
        pooled = pool(list(row.failures.values()))
        if pooled is not None:
            entry["failure_detection"] = {
                k: _num(v) if isinstance(v, float) else v for k, v in pooled.summary().items()
            }
        if not row.external:
            entry["machines"] = [
                {**basis, "sequences": [n for n, m in row.machines.items() if m == basis]}
                for basis, _ in machines_of([row])
            ]
        if overall is not None:
            entry["curves"] = {
                "success": [_num(v) for v in overall.success],
                "precision": [_num(v) for v in overall.precision],
                "norm_precision": [_num(v) for v in overall.norm_precision_curve],
            }
        trackers[row.name] = entry
    return {
        "dataset": {
            "path": str(dataset.root),
            "name": dataset.name,
            "layout": dataset.layout,
            "sequences": dataset.names(),
            "frames": sum(s.frame_count for s in dataset.sequences),
            "attributes": {s.name: list(s.attributes) for s in dataset.sequences if s.attributes},
        },
        "conventions": CONVENTIONS,
        "thresholds": {
            "success": [_num(v) for v in IOU_THRESHOLDS],
            "precision": [_num(v) for v in PIXEL_THRESHOLDS],
            "norm_precision": [_num(v) for v in NORM_THRESHOLDS],
        },
        "machines": [{**basis, "results": count} for basis, count in machines_of(rows)],
        "trackers": trackers,
        "common": {
            "sequences": common,
            "trackers": {
                r.name: _numbers(r.overall(common), r.fps(common)) for r in ranked(rows, common)
            },
        },
    }


# --- plots -------------------------------------------------------------------------------------

_COLOURS = (
    "#d62728",  # red
    "#1f77b4",  # blue
    "#2ca02c",  # green
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#17becf",  # cyan
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#7f7f7f",  # grey
    "#bcbd22",  # olive
)
_DASHES = ("-", "--", "-.", ":")


def plot_sequences(rows: list[Row], dataset: Dataset) -> tuple[list[str] | None, str]:
    """The sequences the plots average over, and how the title names them.

    All rows' own sequences when every row covers the same ones; otherwise the common ones (so
    curves compare like for like), or each row's own when nothing is common.
    """
    covered = {frozenset(r.scores) for r in rows if r.scores}
    if len(covered) <= 1:
        n = len(next(iter(covered))) if covered else 0
        return None, f"{n} sequences"
    common = common_sequences(rows, dataset)
    if common:
        return common, f"{len(common)} sequences common to all rows"
    return None, "each row on its own sequences"


@dataclass(frozen=True)
class PlotSpec:
    """One OTB-style plot: a curve per row against thresholds, legend by a summary score."""

    filename: str
    title: str
    xlabel: str
    ylabel: str
    thresholds: np.ndarray
    curve: Callable[[Scores], np.ndarray]
    score: Callable[[Scores], float]
    legend_corner: str
    xlim: tuple[float, float]


def write_plots(rows: list[Row], dataset: Dataset, folder: Path) -> list[Path]:
    """``success.png`` and ``precision.png`` in the style of OTB figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sequences, scope = plot_sequences(rows, dataset)
    curves = [(r, r.overall(sequences)) for r in rows]
    curves = [(r, s) for r, s in curves if s is not None]
    specs = [
        PlotSpec(
            "success.png",
            f"Success plots of OPE on {dataset.name} ({scope})",
            "Overlap threshold",
            "Success rate",
            IOU_THRESHOLDS,
            lambda s: s.success,
            lambda s: s.success_auc,
            "lower left",
            (0.0, 1.0),
        ),
        PlotSpec(
            "precision.png",
            f"Precision plots of OPE on {dataset.name} ({scope})",
            "Location error threshold (pixels)",
            "Precision",
            PIXEL_THRESHOLDS,
            lambda s: s.precision,
            lambda s: s.precision_20,
            "lower right",
            (0.0, 50.0),
        ),
    ]
    # One style per tracker in both plots, by success rank, so a tracker keeps its colour.
    by_auc = sorted(curves, key=lambda rs: (-rs[1].success_auc, rs[0].name.lower()))
    style = {
        r.name: (_COLOURS[i % len(_COLOURS)], _DASHES[(i // len(_COLOURS)) % len(_DASHES)])
        for i, (r, _) in enumerate(by_auc)
    }
    written = []
    for spec in specs:
        score = spec.score
        order = sorted(curves, key=lambda rs, score=score: (-score(rs[1]), rs[0].name.lower()))
        outside = len(order) > 10
        fig, ax = plt.subplots(figsize=(10.5 if outside else 8.0, 6.0), dpi=150)
        for row, scores in order:
            colour, dashes = style[row.name]
            ax.plot(
                spec.thresholds,
                spec.curve(scores),
                color=colour,
                linestyle=dashes,
                linewidth=1.6 if row.external else 2.6,
                label=f"{row.name} [{score(scores):.3f}]",
            )
        ax.set_xlim(*spec.xlim)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlabel(spec.xlabel, fontsize=12)
        ax.set_ylabel(spec.ylabel, fontsize=12)
        ax.set_title(spec.title, fontsize=12)
        ax.grid(True, linestyle=":", linewidth=0.8, alpha=0.8)
        ax.tick_params(labelsize=10)
        if outside:
            ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=True)
        else:
            ax.legend(loc=spec.legend_corner, fontsize=9, frameon=True, framealpha=0.9)
        fig.tight_layout()
        path = folder / spec.filename
        tmp = partial_path(path)
        try:
            fig.savefig(tmp, format="png")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
            plt.close(fig)
        written.append(path)
    return written


# --- Markdown and terminal tables --------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _table_rows(rows: list[Row], sequences: list[str] | None) -> list[list[str]]:
    out = []
    for row in ranked(rows, sequences):
        scores = row.overall(sequences)
        cells = [row.name]
        cells += [_fmt(getattr(scores, k)) if scores else "" for k in METRIC_KEYS]
        cells.append(_fmt(row.fps(sequences), 1))
        n = len(row.scores) if sequences is None else sum(1 for s in sequences if s in row.scores)
        cells.append(str(n))
        out.append(cells)
    return out


def _bold_best(cells: list[list[str]], columns: Iterable[int]) -> list[list[str]]:
    for c in columns:
        values = [float(r[c]) for r in cells if r[c]]
        if len(values) > 1:
            best = max(values)
            for r in cells:
                if r[c] and float(r[c]) == best:
                    r[c] = f"**{r[c]}**"
    return cells


def _markdown_table(header: list[str], cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return "\n".join(lines)


def _machine_lines(rows: list[Row]) -> list[str]:
    """Which machine tracked the results: one line, or a list when there were several."""
    machines = machines_of(rows)
    unrecorded = unrecorded_results(rows)
    lines: list[str] = []
    if len(machines) == 1:
        lines.append(f"Tracked on {describe_basis(machines[0][0])}.")
    elif machines:
        lines.append(
            f"Tracked on {len(machines)} machines or library sets (another CPU or release "
            "changes the last bits, and knife-edge sequences can tip):"
        )
        lines += [f"- {describe_basis(basis)}: {_results(count)}" for basis, count in machines]
        lines.append("")
    if unrecorded:
        lines.append(f"{_results(unrecorded)} without a record of the machine (older runs).")
    return [*lines, ""] if lines and lines[-1] else lines


def _results(count: int) -> str:
    return f"{count} result{'' if count == 1 else 's'}"


def markdown_summary(dataset: Dataset, rows: list[Row]) -> str:
    header = ["Tracker", *(m.header for m in METRICS), "FPS", "Sequences"]
    common = common_sequences(rows, dataset)
    n_seq = len(dataset.sequences)
    parts = [
        f"# cftrack eval: {dataset.name}",
        "",
        f"Dataset `{dataset.root}` ({dataset.layout} layout): {n_seq} sequences, "
        f"{sum(s.frame_count for s in dataset.sequences)} frames. One-pass evaluation (OPE).",
        "",
        "Conventions: "
        + "; ".join(f"{m.header} = {_markdown_rule(m.rule)}" for m in METRICS)
        + f". {_sentence(_markdown_rule(FRAMES_RULE))}. Overall: {OVERALL_RULE}. "
        f"FPS = {FPS_RULE}.",
        "",
        *_machine_lines(rows),
        "## Overall (each row over the sequences it has results for)",
        "",
        _markdown_table(header, _bold_best(_table_rows(rows, None), range(1, 6))),
        "",
    ]
    if common and any(len(r.scores) != len(common) for r in rows):
        parts += [
            f"## On the {len(common)} sequences common to all rows",
            "",
            ", ".join(common),
            "",
            _markdown_table(header, _bold_best(_table_rows(rows, common), range(1, 6))),
            "",
        ]
    elif not common and len(rows) > 1:
        parts += ["No sequence is common to all rows; compare the overall table with care.", ""]
    names = dataset.names()
    per_seq = [
        [r.name, *(_fmt(r.scores[n].success_auc) if n in r.scores else "" for n in names)]
        for r in ranked(rows)
    ]
    parts += [
        "## Success AUC per sequence",
        "",
        _markdown_table(["Tracker", *names], _bold_best(per_seq, range(1, len(names) + 1))),
        "",
    ]
    tags = dataset.attributes
    if tags:
        counts = {t: sum(1 for s in dataset.sequences if t in s.attributes) for t in tags}
        per_tag = []
        for r in ranked(rows):
            cells = [r.name]
            for t in tags:
                s = r.overall([x.name for x in dataset.sequences if t in x.attributes])
                cells.append(_fmt(s.success_auc) if s else "")
            per_tag.append(cells)
        parts += [
            "## Success AUC per attribute (number of sequences)",
            "",
            _markdown_table(
                ["Tracker", *(f"{t} ({counts[t]})" for t in tags)],
                _bold_best(per_tag, range(1, len(tags) + 1)),
            ),
            "",
        ]
    detection = [(r, pool(list(r.failures.values()))) for r in ranked(rows) if r.failures]
    if detection:
        parts += [
            "## Failure detection (does the score drop when the target is lost?)",
            "",
            _sentence(_markdown_rule(FAILURE_RULE)) + ".",
            "",
            _markdown_table(
                [
                    "Tracker",
                    "Score AUROC",
                    "Lost on failed",
                    "Lost on tracked",
                    "Lost overall",
                    "Failed / tracked frames",
                ],
                [
                    [
                        r.name,
                        _fmt(f.score_auroc),
                        _fmt(f.lost_on_failed),
                        _fmt(f.lost_on_tracked),
                        _fmt(f.lost_frames),
                        f"{f.failed_scores.size} / {f.tracked_scores.size}",
                    ]
                    for r, f in detection
                    if f is not None
                ],
            ),
            "",
        ]
    parts += ["![success](success.png) ![precision](precision.png)", ""]
    return "\n".join(parts)


def rich_table(dataset: Dataset, rows: list[Row]) -> Any:
    """A :class:`rich.table.Table` of the overall numbers, plus common-sequence AUC if needed."""
    from rich.table import Table

    common = common_sequences(rows, dataset)
    show_common = bool(common) and any(len(r.scores) != len(common) for r in rows)
    table = Table(
        title=f"OPE on {dataset.name}: {len(dataset.sequences)} sequences",
        caption="; ".join(f"{m.short}: {m.rule}" for m in METRICS)
        + (f"; common: AUC on the {len(common)} sequences all rows have" if show_common else ""),
        caption_justify="left",
    )
    # Numbers never wrap or shorten; a long tracker name folds onto a second line instead.
    table.add_column("Tracker", style="bold", overflow="fold")
    for m in METRICS:
        table.add_column(m.short, justify="right", no_wrap=True, min_width=5)
    table.add_column("FPS", justify="right", no_wrap=True, min_width=5)
    table.add_column("Seqs", justify="right", no_wrap=True)
    if show_common:
        table.add_column("common", justify="right", no_wrap=True, min_width=6)
    for cells, row in zip(_table_rows(rows, None), ranked(rows), strict=True):
        on_common = row.overall(common)
        extra = [_fmt(on_common.success_auc if on_common else None)] if show_common else []
        table.add_row(*cells, *extra, style=None if row.external else "cyan")
    return table


def write_report(dataset: Dataset, rows: list[Row], folder: Path) -> list[Path]:
    """Write ``report.json``, ``summary.md``, ``success.png`` and ``precision.png``."""
    report = build_report(dataset, rows)
    json_path = folder / "report.json"
    atomic_write_text(json_path, json.dumps(report, indent=2, allow_nan=False) + "\n")
    md_path = folder / "summary.md"
    atomic_write_text(md_path, markdown_summary(dataset, rows))
    plots = write_plots(rows, dataset, folder)
    return [json_path, md_path, *plots]
