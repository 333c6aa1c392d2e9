"""Errors a user can cause. The CLI prints them as one line, without a traceback."""

from __future__ import annotations


class CftrackError(Exception):
    """A failure while doing the work (a corrupt file mid-way, a tracker that cannot start).

    The CLI turns it into one line on stderr and exit status ``exit_code``.
    """

    exit_code = 1


class UsageError(CftrackError):
    """The command was asked for something it cannot do: a bad argument, a missing input."""

    exit_code = 2
