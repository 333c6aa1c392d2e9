"""``cftrack export``: a student as an ONNX model for OpenCV's DNN module and other runtimes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import cv2
import numpy as np
import typer

from cftrack_cli.cli.common import err_console, handle_errors
from cftrack_cli.errors import CftrackError, UsageError
from cftrack_cli.export import (
    ExportSettings,
    TapCheck,
    read_metadata,
    require_onnx,
    student_to_onnx,
    verify_in_opencv,
)
from cftrack_cli.io.atomic import atomic_write_bytes, check_output_file, is_stream
from cftrack_cli.io.frames import IMAGE_SUFFIXES, open_frames, read_image
from cftrack_cli.nets.checkpoint import file_sha256
from cftrack_cli.nets.weights import load_student
from cftrack_cli.trackers import eco_deep
from cftrack_cli.trackers.networks import default_student_path, student_taps

SAMPLE = Path("samples") / "bag.avi"
#: Input sizes the check runs at when the size is free: eco-student's sample, and a non-square
#: one that proves the free size works in OpenCV.
CHECK_SIZES = ((256, 256), (200, 312))


def _check_output(out: Path, overwrite: bool) -> None:
    """Before any work: ``out`` can be written (``-`` is standard output)."""
    if str(out) == "-":
        if sys.stdout.isatty():
            raise UsageError("--onnx -: standard output is a terminal; redirect it to a file")
        return
    if not is_stream(out):
        check_output_file(out, "--onnx", overwrite)


def _write(out: Path, data: bytes) -> None:
    """A file under a temporary name, then renamed; a stream in place."""
    if str(out) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    if not is_stream(out):
        atomic_write_bytes(out, data)
        return
    try:
        with open(out, "wb") as stream:
            if stream.isatty():
                raise UsageError(f"--onnx {out}: a terminal; give a file name")
            stream.write(data)
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            raise
        raise CftrackError(f"{out}: cannot write ({exc.strerror or exc})") from None


def _default_frame_source() -> Path:
    """The shipped sample video: ./samples/ or the checkout this package runs from."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (root / SAMPLE).is_file():
            return root / SAMPLE
    raise UsageError(f"{SAMPLE} not found here; give an image or video with --frame")


def _first_frame(source: Path) -> np.ndarray:
    if source.suffix.lower() in IMAGE_SUFFIXES and source.is_file():
        return read_image(source)
    with open_frames(source) as frames:
        for frame in frames:
            return frame
    raise UsageError(f"{source}: holds no frames")


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    h, sep, w = text.lower().partition("x")
    try:
        size = (int(h), int(w if sep else h))
    except ValueError:
        raise UsageError(f"--input-size {text!r}: expected N or HxW, e.g. 256 or 200x312") from None
    if min(size) < 1:
        raise UsageError(f"--input-size {text!r}: sides must be positive")
    return size


def _summary(checks: list[TapCheck]) -> str:
    worst = max(checks, key=lambda c: c.relative)
    sizes = " and ".join(dict.fromkeys(f"{h}x{w}" for h, w in (c.size for c in checks)))
    names = list(dict.fromkeys(c.engine for c in checks))
    engines = " and ".join(names) + (" engines" if len(names) > 1 else " engine")
    biggest = max(c.max_diff for c in checks)
    return (
        f"checked in OpenCV {cv2.__version__} DNN ({engines}) at {sizes}: "
        f"max |ONNX - PyTorch| "
        f"{biggest:.1e}, at most {worst.relative:.1e} of a tap's largest value "
        f"(tolerance {worst.tolerance:.0e}, {worst.tap})"
    )


@handle_errors
def export_command(
    student: Annotated[
        Path | None,
        typer.Argument(
            help="Student weights file (a cftrack student or the CF-VGGM file). "
            "Default: the student eco-student uses (weights/cftrack_student.pth, "
            "or $CFTRACK_STUDENT_WEIGHTS).",
            show_default=False,
        ),
    ] = None,
    onnx_out: Annotated[
        Path | None,
        typer.Option(
            "--onnx",
            help="The ONNX file to write; '-' writes to standard output.",
            show_default=False,
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing output file.")
    ] = False,
    input_size: Annotated[
        str | None,
        typer.Option(
            "--input-size",
            metavar="N|HxW",
            help="Fix the input size (for runtimes without free sizes). Default: free, except "
            "for students that subtract a mean image (CF-VGGM: that image's size).",
            show_default=False,
        ),
    ] = None,
    frame: Annotated[
        Path | None,
        typer.Option(
            "--frame",
            help="Image or video (first frame) the export is checked on. "
            "Default: the shipped samples/bag.avi.",
            show_default=False,
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")] = False,
) -> None:
    """Export a student network to ONNX, with every feature tap a named output.

    The input's preparation (mean, std, scale, RGB order), the taps' strides and offsets and
    the taps eco-student tracks with go into the model's metadata. Before anything is
    written the model is run through OpenCV's DNN module on a real frame and each tap is
    compared with PyTorch's; a difference over 1e-4 of the tap's largest value fails.
    Needs the onnx package: pip install 'cftrack[export]'.

    Exit status: 0 written; 2 bad arguments or input; 1 the export or its check failed.

    \b
    Examples:
      cftrack export --onnx student.onnx
      cftrack export runs/w0125.pth --onnx w0125.onnx --overwrite
      cftrack export ../shared/weights/cf_vggm_student.pth --onnx cf_vggm.onnx
    """
    if onnx_out is None:
        raise UsageError("give the file to write with --onnx OUT.onnx")
    size = _parse_size(input_size)
    _check_output(onnx_out, overwrite)
    source = frame if frame is not None else _default_frame_source()
    weights = student if student is not None else default_student_path()
    net, meta = load_student(weights)
    try:
        taps = student_taps(net, meta, deepest_only=eco_deep.DEEPEST_ONLY)
        tracker = tuple((t.name, t.pool) for t in taps)
    except UsageError:  # no tap eco-student can read: the file still exports, unused by it
        tracker = ()
    image = _first_frame(source)
    require_onnx()  # after the arguments: a mistake there is reported first

    def say(text: str) -> None:
        if not quiet:
            err_console.print(text, markup=False, highlight=False, soft_wrap=True)

    say(f"exporting {weights} ...")
    source_id = f"{weights.name} (sha256 {file_sha256(weights)[:16]})"
    settings = ExportSettings(input_size=size, tracker_taps=tracker, source=source_id)
    model = student_to_onnx(net, settings)
    metadata = read_metadata(model)
    fixed = _parse_size(metadata["input.size"]) if metadata["input.size"] != "dynamic" else None
    checks = verify_in_opencv(model, metadata, net, image, [fixed] if fixed else CHECK_SIZES)
    bad = [c for c in checks if not c.ok]
    if bad:
        c = max(bad, key=lambda c: c.relative)
        raise CftrackError(
            f"the ONNX model's {c.tap} differs from PyTorch's by {c.max_diff:.2e} at "
            f"{c.size[0]}x{c.size[1]} in OpenCV's {c.engine} engine ({c.relative:.1e} of its "
            f"largest value, tolerance {c.tolerance:.0e}); nothing written"
        )
    _write(onnx_out, model)
    where = "standard output" if str(onnx_out) == "-" else str(onnx_out)
    say(
        f"wrote {where} ({len(model) / 1024:.0f} KB): input {metadata['input.size']}, "
        f"taps {metadata['taps']}"
    )
    say(_summary(checks) + f", on {source.name}")
