"""CLIP vision nodes: load a CLIP or SigLIP vision tower, encode images (shared with IP-Adapter).

``CLIP_VISION`` is a :class:`models.contrastive.clip_vision.CLIPVision` (``.model``, ``.processor``,
``.encode(image, crop)``); ``CLIP_VISION_OUTPUT`` is a :class:`models.contrastive.clip_vision.CLIPVisionOutput`
(``image_embeds``, ``last_hidden_state``, ``penultimate_hidden_states``, ``pixel_values``).
"""
from __future__ import annotations

from execution.declare import Combo, In, Out, node
from models.folders import ModelListing


@node("CLIPVisionLoader", display_name="Load CLIP Vision", category="loaders",
      inputs=[Combo("clip_name", ModelListing("clip_vision"))],
      outputs=[Out("CLIP_VISION")])
def clip_vision_loader(ctx, clip_name: str):
    """Load a CLIP or SigLIP vision encoder (a transformers folder or a .safetensors file) from models/clip_vision/."""
    from models.contrastive.clip_vision import load_clip_vision
    from models.managed import load_managed

    return (load_managed(ctx.services, "clip_vision", clip_name,
                         lambda path, dtype, manager: load_clip_vision(path, dtype, manager)),)


@node("CLIPVisionEncode", display_name="CLIP Vision Encode", category="conditioning",
      inputs=[In("clip_vision", "CLIP_VISION"), In("image", "IMAGE"), Combo("crop", ["center", "none"])],
      outputs=[Out("CLIP_VISION_OUTPUT")])
def clip_vision_encode(clip_vision, image, crop: str = "center"):
    """Encode images with a vision tower: ``center`` crops the middle square, ``none`` squashes the whole image."""
    return (clip_vision.encode(image, crop),)
