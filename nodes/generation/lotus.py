"""LotusConditioning: ComfyUI's fixed conditioning for the Lotus depth/normal models.

In ComfyUI it returns, with no inputs, the empty-prompt output of Stable Diffusion 2's OpenCLIP-H
text encoder ([1, 77, 1024]), stored inline because Lotus keeps that encoder frozen. Lotus models
are Stable Diffusion 2.x U-Nets, which Plexus does not run (the U-Net loaders refuse them by name),
and that embedding cannot be computed without SD2's text encoder weights; so the node exists with
ComfyUI's contract for workflows to convert and validate, and running it is one clear error.
"""
from __future__ import annotations

from execution.declare import Out, node

LOTUS_UNAVAILABLE = (
    "LotusConditioning is not available in Plexus: it supplies the frozen empty-prompt conditioning of "
    "Stable Diffusion 2's OpenCLIP-H text encoder for the Lotus depth/normal models, which are Stable "
    "Diffusion 2.x U-Nets that Plexus does not run. Feed the depth ControlNet a depth map from another "
    "source (e.g. LoadImage) instead.")


@node("LotusConditioning", category="conditioning/lotus", outputs=[Out("CONDITIONING", "conditioning")])
def lotus_conditioning():
    """The Lotus depth/normal models' fixed conditioning (not available: Lotus is a Stable Diffusion 2.x U-Net)."""
    raise RuntimeError(LOTUS_UNAVAILABLE)
