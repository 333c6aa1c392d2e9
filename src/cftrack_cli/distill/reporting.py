"""How the distillation tells its caller what it is doing, and how it is told to stop.

The library never prints: it calls a :class:`Reporter` (the CLI's draws a rich progress bar)
and polls a stop flag (anything with a ``requested`` attribute, e.g. the CLI's
``graceful_interrupt()``), only at safe points: between teacher batches and between training
steps.
"""

from __future__ import annotations

from typing import Any, Protocol

from cftrack_cli.errors import CftrackError

__all__ = ["DistillInterrupted", "NullReporter", "Reporter", "StopFlag"]


class StopFlag(Protocol):
    requested: bool


class Reporter(Protocol):
    def stage(self, name: str, total: int | None) -> None:
        """A new stage starts (``"pairs"``, ``"teacher"``, ``"train"``), ``total`` units."""

    def advance(self, n: int = 1, **fields: Any) -> None:
        """``n`` more units of the current stage are done; ``fields``: losses, epoch ..."""

    def message(self, text: str) -> None:
        """A line worth showing (cache reused, checkpoint written, epoch summary)."""


class NullReporter:
    """Reports nothing (library use, tests, ranks other than 0)."""

    def stage(self, name: str, total: int | None) -> None:
        pass

    def advance(self, n: int = 1, **fields: Any) -> None:
        pass

    def message(self, text: str) -> None:
        pass


class DistillInterrupted(CftrackError):
    """The run stopped at a safe point on request; the message says what was kept."""

    exit_code = 130
