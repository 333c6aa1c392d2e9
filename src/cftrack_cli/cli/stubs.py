"""Sub-commands whose issues have not landed yet; they say so plainly."""

from __future__ import annotations

from cftrack_cli.cli.common import not_implemented


def distill() -> None:
    """Distil the VGG16 teacher into a small student network for CF tracking (coming)."""
    not_implemented("distill")
