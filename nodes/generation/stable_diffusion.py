"""SD 1.x / SDXL conditioning nodes (ComfyUI names): SDXL's size/crop conditioning, the refiner's
aesthetic score, and CLIPSetLastLayer. Loading and sampling go through the shared nodes."""
from __future__ import annotations

from execution.declare import Float, In, Int, Out, String, node
from nodes.generation.conditioning import NO_CLIP

MAX_RESOLUTION = 16384


def _unet_clip(clip, node_name: str):
    if clip is None:
        raise RuntimeError(NO_CLIP)
    if clip.family != "stable_diffusion":
        raise ValueError(f"{node_name} takes an SD 1.x / SDXL CLIP; the clip input is a {clip.family} CLIP")
    return clip


@node("CLIPTextEncodeSDXL", category="advanced/conditioning",
      inputs=[In("clip", "CLIP"), Int("width", 1024, min=0, max=MAX_RESOLUTION),
              Int("height", 1024, min=0, max=MAX_RESOLUTION), Int("crop_w", 0, min=0, max=MAX_RESOLUTION),
              Int("crop_h", 0, min=0, max=MAX_RESOLUTION), Int("target_width", 1024, min=0, max=MAX_RESOLUTION),
              Int("target_height", 1024, min=0, max=MAX_RESOLUTION),
              String("text_g", multiline=True, dynamic_prompts=True),
              String("text_l", multiline=True, dynamic_prompts=True)],
      outputs=[Out("CONDITIONING")],
      description="SDXL: separate prompts for OpenCLIP-G and CLIP-L, and the original size, crop and target "
                  "size the model is conditioned on (its time ids).")
def clip_text_encode_sdxl(ctx, clip, width, height, crop_w, crop_h, target_width, target_height, text_g, text_l):
    from models.stable_diffusion.text import encode

    clip = _unet_clip(clip, "CLIPTextEncodeSDXL")
    conditioning = encode(clip, ctx.services.models, text_l, text_g)
    sizes = {"width": width, "height": height, "crop_w": crop_w, "crop_h": crop_h,
             "target_width": target_width, "target_height": target_height}
    return ([[embeddings, {**extras, **sizes}] for embeddings, extras in conditioning],)


@node("CLIPTextEncodeSDXLRefiner", category="advanced/conditioning",
      inputs=[In("clip", "CLIP"), Float("ascore", 6.0, min=0.0, max=1000.0, step=0.01),
              Int("width", 1024, min=0, max=MAX_RESOLUTION), Int("height", 1024, min=0, max=MAX_RESOLUTION),
              String("text", multiline=True, dynamic_prompts=True)],
      outputs=[Out("CONDITIONING")],
      description="SDXL refiner: the prompt with the aesthetic score and original size the refiner is "
                  "conditioned on.")
def clip_text_encode_sdxl_refiner(ctx, clip, ascore, width, height, text):
    clip = _unet_clip(clip, "CLIPTextEncodeSDXLRefiner")
    conditioning = clip.encode_text(ctx.services.models, text)
    extras = {"aesthetic_score": float(ascore), "width": width, "height": height}
    return ([[embeddings, {**old, **extras}] for embeddings, old in conditioning],)


@node("CLIPSetLastLayer", category="conditioning",
      inputs=[In("clip", "CLIP"), Int("stop_at_clip_layer", -1, min=-24, max=-1)],
      outputs=[Out("CLIP")],
      description="Clip skip: take the text encoders' hidden states from this layer (-1 = the last, -2 = the "
                  "penultimate). Returns a clone; the loaded encoders are not changed.")
def clip_set_last_layer(clip, stop_at_clip_layer):
    clip = _unet_clip(clip, "CLIPSetLastLayer")
    return (clip.clone(layer=int(stop_at_clip_layer)),)
