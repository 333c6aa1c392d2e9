"""What every sub-command shares: the stderr console and the error policy.

Errors a user can cause become one line on stderr and a non-zero exit; a bug prints one line
too, with the traceback only when ``CFTRACK_DEBUG=1``.
"""

from __future__ import annotations

import functools
import os
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from cftrack_cli.errors import CftrackError

#: Messages and progress go to stderr, so stdout can carry data (``--csv -``).
err_console = Console(stderr=True, highlight=False)

INTERRUPTED = 130
#: The shell's status for a writer whose reader went away (128 + SIGPIPE), as for `yes | head`.
PIPE_CLOSED = 141

F = TypeVar("F", bound=Callable[..., Any])


def error(message: str) -> None:
    # Escaped: a message may hold brackets ("pip install 'cftrack[export]'") that are not markup.
    err_console.print(
        f"[bold red]cftrack: error:[/] {escape(message)}", markup=True, soft_wrap=True
    )


def warn(message: str) -> None:
    """One line on stderr that does not stop the command."""
    err_console.print(
        f"[yellow]cftrack: warning:[/] {escape(message)}", markup=True, soft_wrap=True
    )


def handle_errors(fn: F) -> F:
    """Turn our exceptions into a one-line message and the documented exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except CftrackError as exc:
            error(str(exc))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            error("interrupted")
            raise typer.Exit(INTERRUPTED) from None
        except BrokenPipeError:
            # The reader of stdout stopped (`cftrack track ... --csv - | head`): not a bug.
            # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.close(devnull)
            error("stopped: the reader closed standard output")
            raise typer.Exit(PIPE_CLOSED) from None
        except Exception as exc:
            if os.environ.get("CFTRACK_DEBUG"):
                traceback.print_exc()
            error(
                f"internal error: {type(exc).__name__}: {exc} "
                "(a bug: rerun with CFTRACK_DEBUG=1 for the traceback and report it)"
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def not_implemented(command: str) -> None:
    error(f"'{command}' is not implemented yet in this version of cftrack")
    raise typer.Exit(1)


class StopRequest:
    """Set by the first Ctrl-C; long loops check it at a safe point and wind down."""

    requested = False


@contextmanager
def graceful_interrupt() -> Iterator[StopRequest]:
    """First Ctrl-C asks the loop to stop after the current item; a second one aborts at once.

    Stopping between frames (not inside a write to ffmpeg, say) is what lets the outputs be
    finished properly after an interruption.
    """
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def on_sigint(signum: int, frame: object) -> None:
        if stop.requested:
            raise KeyboardInterrupt
        stop.requested = True
        err_console.print("cftrack: stopping after this frame (Ctrl-C again to abort)")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


# -- tracker options shared by track, eval and bench -------------------------------------------

WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="Student weights file for eco-student (same as writing eco-student@PATH).",
    ),
]
TeacherWeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--teacher-weights",
        help="VGG16 teacher weights (torchvision layout). Default: $CFTRACK_TEACHER_WEIGHTS, "
        "then torch's hub cache (vgg16-397923af.pth).",
    ),
]
TeacherPreprocessingOption = Annotated[
    str | None,
    typer.Option(
        "--teacher-preprocessing",
        help="caffe or torchvision, when the teacher file does not say how its input is prepared.",
    ),
]
PeerModelsOption = Annotated[
    Path | None,
    typer.Option(
        "--peer-models",
        help="Folder with the ONNX files of opencv-nano and opencv-vit (nanotrack/..., "
        "vittrack/...). Default: $CFTRACK_PEER_MODELS.",
        show_default=False,
    ),
]


def with_weights(names: list[str], weights: Path | None) -> list[str]:
    """``--weights`` written into the names of trackers that take one and name none."""
    from cftrack_cli.trackers.registry import spec_of, split_name

    if weights is None:
        return names
    out = []
    for name in names:
        takes = "weights" in spec_of(name).options
        out.append(f"{name}@{weights}" if takes and split_name(name)[1] is None else name)
    return out


def tracker_options(
    teacher_weights: Path | None,
    teacher_preprocessing: str | None,
    peer_models: Path | None = None,
) -> dict[str, str]:
    """The options every tracker factory may take (those it has no use for are ignored)."""
    options = {
        "teacher_weights": str(teacher_weights) if teacher_weights else None,
        "teacher_preprocessing": teacher_preprocessing,
        "peer_models": str(peer_models) if peer_models else None,
    }
    return {k: v for k, v in options.items() if v is not None}
