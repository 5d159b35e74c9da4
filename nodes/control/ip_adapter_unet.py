"""IP-Adapter nodes for SD 1.5 and SDXL: load an original-format adapter (``ip-adapter_sd15``,
``ip-adapter-plus_sd15``, ``ip-adapter_sdxl``, ...), patch a model with an image prompt.

``UNetIPAdapterApply`` returns a patched MODEL clone; the cached base model is never touched, so the
same base can feed an adapted and a plain sampler in one graph. Chained apply nodes stack adapters.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Out, node
from models.folders import ModelListing

CATEGORY = "conditioning/ip_adapter"


@node("UNetIPAdapterLoader", category="loaders", display_name="Load IP-Adapter (SD 1.5 / SDXL)",
      inputs=[Combo("ipadapter_file", ModelListing("ipadapter"))],
      outputs=[Out("IPADAPTER")],
      description="Load an SD 1.5 / SDXL IP-Adapter in the original format (.safetensors with image_proj.* and "
                  "ip_adapter.N.to_k_ip/to_v_ip weights): ip-adapter, plus and full-face kinds.")
def unet_ip_adapter_loader(ctx, ipadapter_file: str):
    from models.control.ip_adapter_unet import load_unet_ip_adapter
    from models.managed import load_managed

    return (load_managed(ctx.services, "ipadapter", ipadapter_file,
                         lambda path, dtype, _manager: load_unet_ip_adapter(path, dtype)),)


@node("UNetIPAdapterApply", category=CATEGORY, display_name="Apply IP-Adapter (SD 1.5 / SDXL)",
      inputs=[In("model", "MODEL"), In("ipadapter", "IPADAPTER"), In("clip_vision", "CLIP_VISION"),
              In("image", "IMAGE"),
              Float("weight", 1.0, min=-1.0, max=5.0, step=0.01),
              Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001),
              Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001),
              Combo("crop", ["center", "none"]),
              In("image_negative", "IMAGE", optional=True), In("attn_mask", "MASK", optional=True)],
      outputs=[Out("MODEL")],
      description="Add an image prompt through the IP-Adapter's decoupled cross-attention. Several images "
                  "in one IMAGE batch are used together; image_negative replaces the unconditional image; attn_mask "
                  "limits the image prompt to a region (one mask, or one per image). "
                  "Returns a patched copy of the model.")
def unet_ip_adapter_apply(model, ipadapter, clip_vision, image, weight: float, start_percent: float,
                          end_percent: float, crop: str = "center", image_negative=None, attn_mask=None):
    from models.control.ip_adapter_unet import (ImagePrompt, UNetIPAdapter, UNetIPAdapterPatch, attention_mask_for,
                                                check_adapter_fits, encode_image_prompt)

    if not isinstance(ipadapter, UNetIPAdapter):
        raise TypeError(f"ipadapter must come from UNetIPAdapterLoader, got {type(ipadapter).__name__} "
                        "(SD3 IP-Adapters go through SD3IPAdapterApply)")
    check_adapter_fits(ipadapter, model)
    if not 0.0 <= start_percent <= end_percent <= 1.0:
        raise ValueError(f"need 0 <= start_percent <= end_percent <= 1, got {start_percent}..{end_percent}")
    positive, negative = encode_image_prompt(clip_vision, ipadapter, image, crop, image_negative)
    prompt = ImagePrompt(adapter=ipadapter, positive=positive, negative=negative, weight=float(weight),
                         start_percent=float(start_percent), end_percent=float(end_percent),
                         mask=attention_mask_for(attn_mask, positive.shape[0]))
    existing = next((p for p in model.patches if isinstance(p, UNetIPAdapterPatch)), None)
    if existing is None:
        return (model.with_patch(UNetIPAdapterPatch(prompts=(prompt,))),)
    patches = tuple(existing.with_prompt(prompt) if p is existing else p for p in model.patches)
    return (model.clone(patches=patches),)
