"""Guidance model patches: CFGNorm. The patch goes on a clone of the MODEL (``models/guidance.py``);
the cached base model is never changed."""
from __future__ import annotations

from execution.declare import Boolean, Float, In, Out, node


@node("CFGNorm", category="advanced/guidance", experimental=True,
      inputs=[In("model", "MODEL"), Float("strength", 1.0, min=0.0, max=100.0, step=0.01),
              Boolean("pre_cfg", False, optional=True,
                      tooltip="If true, rescale the combined noise BEFORE the sampler's CFG combine, without "
                              "clamping (can amplify). Matches the norm-scaled CFG used by models like Lens. "
                              "Default false keeps the original post-CFG x0-space attenuate-only behavior.")],
      outputs=[Out("MODEL", "patched_model")])
def cfg_norm(model, strength: float, pre_cfg: bool = False):
    """Keep the guided prediction's norm at most the positive prediction's (post-CFG, in x0 space), or
    rescale CFG to it (pre_cfg)."""
    from models.guidance import CFGNormPatch

    return (model.with_patch(CFGNormPatch(strength=float(strength), pre_cfg=bool(pre_cfg))),)
