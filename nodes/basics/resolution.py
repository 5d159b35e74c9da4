"""ResolutionSelector: width and height from an aspect ratio and a megapixel target."""
from __future__ import annotations

import math

from execution.declare import Combo, Float, Int, Out, node

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1 (Square)": (1, 1), "2:3 (Portrait Photo)": (2, 3), "3:2 (Photo)": (3, 2),
    "3:4 (Portrait Standard)": (3, 4), "4:3 (Standard)": (4, 3), "9:16 (Portrait Widescreen)": (9, 16),
    "16:9 (Widescreen)": (16, 9), "21:9 (Ultrawide)": (21, 9),
}


def resolution_for(aspect_ratio: str, megapixels: float, multiple: int = 8) -> tuple[int, int]:
    """Sides in the ratio whose product is ``megapixels`` MiB-pixels, each rounded to ``multiple``."""
    ratio_w, ratio_h = ASPECT_RATIOS[aspect_ratio]
    unit = math.sqrt(megapixels * 1024 * 1024 / (ratio_w * ratio_h))
    return round(ratio_w * unit / multiple) * multiple, round(ratio_h * unit / multiple) * multiple


# ``multiple`` is optional here: workflows saved before it existed carry two widget values (then 8).
@node("ResolutionSelector", display_name="Resolution Selector", category="utils",
      inputs=[Combo("aspect_ratio", list(ASPECT_RATIOS), default="1:1 (Square)",
                    tooltip="The aspect ratio for the output dimensions."),
              Float("megapixels", 1.0, min=0.1, max=16.0, step=0.1,
                    tooltip="Target total megapixels. 1.0 MP ≈ 1024x1024 for square."),
              Int("multiple", 8, min=8, max=128, step=4, optional=True,
                  tooltip="Nearest multiple of the result to set the selected resolution to.")],
      outputs=[Out("INT", "width"), Out("INT", "height")])
def resolution_selector(aspect_ratio: str, megapixels: float, multiple: int = 8):
    """Calculate width and height from aspect ratio and megapixel target. Useful for setting up Empty Latent Image dimensions."""
    return resolution_for(aspect_ratio, megapixels, multiple)
