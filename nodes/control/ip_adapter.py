"""IP-Adapter nodes for SD3: load an adapter, patch a model with an image prompt.

``SD3IPAdapterApply`` returns a patched MODEL clone; the cached base model is never touched, so the
same base can feed an adapted and a plain sampler in one graph.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Out, node
from models.folders import ModelListing

CATEGORY = "conditioning/ip_adapter"
# The names these nodes had before they were renamed to stay clear of the IP-Adapter packs' own
# nodes. Old workflows load through them unless a loaded pack defines the old name itself.
NODE_ALIASES = {"IPAdapterModelLoader": "SD3IPAdapterLoader", "IPAdapterApply": "SD3IPAdapterApply"}


@node("SD3IPAdapterLoader", category="loaders", display_name="Load IP-Adapter (SD3)",
      inputs=[Combo("ipadapter_file", ModelListing("ipadapter"))],
      outputs=[Out("IPADAPTER")],
      description="Load an SD3/SD3.5 IP-Adapter (.safetensors with image_proj.* and ip_adapter.N.* weights).")
def ip_adapter_loader(ctx, ipadapter_file: str):
    from models.control.ip_adapter_sd3 import load_sd3_ip_adapter
    from models.managed import load_managed

    return (load_managed(ctx.services, "ipadapter", ipadapter_file,
                         lambda path, dtype, _manager: load_sd3_ip_adapter(path, dtype)),)


def apply_ip_adapter(model, ipadapter, weight: float, start_percent: float, end_percent: float,
                     image=None, clip_vision=None, clip_vision_output=None, crop: str = "center"):
    """A clone of ``model`` carrying an :class:`IPAdapterPatch`; checks fit before any sampling."""
    from models.control.ip_adapter_sd3 import (IPAdapterFormatError, IPAdapterPatch, SD3IPAdapter,
                                       check_adapter_matches, check_image_embeds_match)

    if not isinstance(ipadapter, SD3IPAdapter):
        raise TypeError(f"ipadapter must come from SD3IPAdapterLoader, got {type(ipadapter).__name__}")
    transformer = getattr(model, "transformer", None)
    if transformer is None or not hasattr(model, "with_patch"):
        raise IPAdapterFormatError(
            f"IP-Adapter '{ipadapter.name}' is for SD3 models; the MODEL input is a {type(model).__name__}")
    check_adapter_matches(ipadapter, transformer)
    if any(isinstance(patch, IPAdapterPatch) for patch in model.patches):
        raise ValueError("this model already has an SD3 IP-Adapter applied; SD3's adapter attention takes one "
                         "image prompt per model (batch several images into one IMAGE instead)")
    if clip_vision_output is None:
        if clip_vision is None or image is None:
            raise ValueError("SD3IPAdapterApply needs either clip_vision_output, or clip_vision and image")
        clip_vision_output = clip_vision.encode(image, crop)
    embeds = clip_vision_output["penultimate_hidden_states"]
    check_image_embeds_match(ipadapter, embeds)
    if not 0.0 <= start_percent <= end_percent <= 1.0:
        raise ValueError(f"need 0 <= start_percent <= end_percent <= 1, got {start_percent}..{end_percent}")
    patch = IPAdapterPatch(adapter=ipadapter, image_embeds=embeds, weight=float(weight),
                           start_percent=float(start_percent), end_percent=float(end_percent))
    return model.with_patch(patch)


@node("SD3IPAdapterApply", category=CATEGORY, display_name="Apply IP-Adapter (SD3)",
      inputs=[In("model", "MODEL"), In("ipadapter", "IPADAPTER"),
              Float("weight", 1.0, min=-1.0, max=5.0, step=0.01),
              Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001),
              Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001),
              In("image", "IMAGE", optional=True), In("clip_vision", "CLIP_VISION", optional=True),
              In("clip_vision_output", "CLIP_VISION_OUTPUT", optional=True),
              Combo("crop", ["center", "none"], optional=True)],
      outputs=[Out("MODEL")],
      description="Add an image prompt through the IP-Adapter's extra attention path. Give either "
                  "clip_vision + image, or a CLIP_VISION_OUTPUT. Returns a patched copy of the model.")
def ip_adapter_apply(model, ipadapter, weight: float, start_percent: float, end_percent: float, image=None,
                     clip_vision=None, clip_vision_output=None, crop: str = "center"):
    return (apply_ip_adapter(model, ipadapter, weight, start_percent, end_percent, image=image,
                             clip_vision=clip_vision, clip_vision_output=clip_vision_output, crop=crop),)
