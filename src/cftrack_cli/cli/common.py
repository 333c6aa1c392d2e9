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
from typing import Any, TypeVar

import typer
from rich.console import Console

from cftrack_cli.errors import CftrackError

#: Messages and progress go to stderr, so stdout can carry data (``--csv -``).
err_console = Console(stderr=True, highlight=False)

INTERRUPTED = 130

F = TypeVar("F", bound=Callable[..., Any])


def error(message: str) -> None:
    err_console.print(f"[bold red]cftrack: error:[/] {message}", markup=True, soft_wrap=True)


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
