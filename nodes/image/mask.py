"""Mask nodes. MASK tensors are [B, H, W] in 0..1."""
from __future__ import annotations

from execution.declare import Float, In, Int, Out, node

MAX_RESOLUTION = 16384


@node("SolidMask", category="mask",
      inputs=[Float("value", 1.0, min=0.0, max=1.0, step=0.01), Int("width", 512, min=1, max=MAX_RESOLUTION),
              Int("height", 512, min=1, max=MAX_RESOLUTION)],
      outputs=[Out("MASK")])
def solid_mask(value: float, width: int, height: int):
    """A mask filled with one value."""
    import torch

    return (torch.full((1, height, width), float(value)),)


@node("InvertMask", category="mask", inputs=[In("mask", "MASK")], outputs=[Out("MASK")])
def invert_mask(mask):
    """1 - mask."""
    return (1.0 - mask,)
