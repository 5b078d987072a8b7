"""The stage layout shared by the residual networks."""
from __future__ import annotations

from typing import Iterator


def residual_stages(in_channels: int, widths: tuple[int, ...], blocks: int) -> Iterator[tuple[int, int, int]]:
    """``(in, out, stride)`` of every block: ``blocks`` per stage; each stage after the first halves the
    resolution in its first block."""
    channels = in_channels
    for stage, width in enumerate(widths):
        for block in range(blocks):
            yield channels, width, 2 if (stage > 0 and block == 0) else 1
            channels = width
