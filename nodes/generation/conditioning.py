"""Conditioning nodes: text encoding for SD3 and the usual conditioning arithmetic.

CONDITIONING is a list of ``[embeddings [b, seq, width], {"pooled_output": [b, width], ...extras}]``.
Nodes return new lists and new extras dicts; inputs are never mutated (they may be cached).
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Int, Out, String, node

NO_CLIP = ("clip input is invalid: None. If the clip is from a checkpoint loader node, the checkpoint "
           "does not contain text encoders; load them with TripleCLIPLoader / DualCLIPLoader / CLIPLoader.")


def _encode(ctx, clip, clip_l: str, clip_g: str, t5xxl: str, pad_empty: bool = True) -> list:
    if clip is None:
        raise RuntimeError(NO_CLIP)
    if clip.family != "sd3":
        raise ValueError(f"this node encodes for SD3's three text encoders; the clip input is a {clip.family} CLIP "
                         f"(use CLIPTextEncode, or CLIPTextEncodeFlux for FLUX)")
    from models.sd3.text import encode_sd3

    embeddings, pooled = encode_sd3(clip, ctx.services.models, clip_l, clip_g, t5xxl, pad_empty=pad_empty)
    return [[embeddings, {"pooled_output": pooled}]]


@node("CLIPTextEncode", category="conditioning", display_name="CLIP Text Encode (Prompt)",
      inputs=[String("text", multiline=True, dynamic_prompts=True), In("clip", "CLIP")],
      outputs=[Out("CONDITIONING")],
      description="Encodes a prompt with the CLIP's text encoders exactly as diffusers does (SD3: CLIP-L, "
                  "CLIP-G and T5; FLUX: CLIP-L pooled and T5).")
def clip_text_encode(ctx, text, clip):
    if clip is None:
        raise RuntimeError(NO_CLIP)
    return (clip.encode_text(ctx.services.models, text),)


@node("CLIPTextEncodeSD3", category="advanced/conditioning",
      inputs=[In("clip", "CLIP"), String("clip_l", multiline=True, dynamic_prompts=True),
              String("clip_g", multiline=True, dynamic_prompts=True),
              String("t5xxl", multiline=True, dynamic_prompts=True),
              Combo("empty_padding", ("none", "empty_prompt"))],
      outputs=[Out("CONDITIONING")],
      description="Separate texts per encoder. empty_padding=none turns an empty text into zeros for that "
                  "encoder; empty_prompt encodes it like any prompt.")
def clip_text_encode_sd3(ctx, clip, clip_l, clip_g, t5xxl, empty_padding):
    return (_encode(ctx, clip, clip_l, clip_g, t5xxl, pad_empty=empty_padding == "empty_prompt"),)


@node("ConditioningZeroOut", category="advanced/conditioning",
      inputs=[In("conditioning", "CONDITIONING")], outputs=[Out("CONDITIONING")],
      description="Zeros every embedding and pooled output (SD3's usual negative).")
def conditioning_zero_out(conditioning):
    import torch

    out = []
    for embeddings, extras in conditioning:
        extras = dict(extras)
        if extras.get("pooled_output") is not None:
            extras["pooled_output"] = torch.zeros_like(extras["pooled_output"])
        out.append([torch.zeros_like(embeddings), extras])
    return (out,)


@node("ConditioningCombine", category="conditioning", display_name="Conditioning (Combine)",
      inputs=[In("conditioning_1", "CONDITIONING"), In("conditioning_2", "CONDITIONING")],
      outputs=[Out("CONDITIONING")],
      description="Both conditionings are applied; the sampler averages their predictions.")
def conditioning_combine(conditioning_1, conditioning_2):
    return (list(conditioning_1) + list(conditioning_2),)


@node("ConditioningSetTimestepRange", category="advanced/conditioning",
      inputs=[In("conditioning", "CONDITIONING"), Float("start", 0.0, min=0.0, max=1.0, step=0.001),
              Float("end", 1.0, min=0.0, max=1.0, step=0.001)],
      outputs=[Out("CONDITIONING")],
      description="Use this conditioning only between start and end (fractions of the sampling run).")
def conditioning_set_timestep_range(conditioning, start, end):
    return ([[embeddings, dict(extras, start_percent=float(start), end_percent=float(end))]
             for embeddings, extras in conditioning],)


def _match_length(tensor, length: int):
    import torch

    if tensor.shape[1] == length:
        return tensor
    if tensor.shape[1] > length:
        return tensor[:, :length]
    return torch.cat([tensor, torch.zeros(tensor.shape[0], length - tensor.shape[1], *tensor.shape[2:],
                                          dtype=tensor.dtype)], dim=1)


@node("ConditioningAverage", category="conditioning",
      inputs=[In("conditioning_to", "CONDITIONING"), In("conditioning_from", "CONDITIONING"),
              Float("conditioning_to_strength", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("CONDITIONING")],
      description="Blends each 'to' entry with the first 'from' entry: to * strength + from * (1 - strength).")
def conditioning_average(ctx, conditioning_to, conditioning_from, conditioning_to_strength):
    if not conditioning_from:
        return (conditioning_to,)
    if len(conditioning_from) > 1:
        ctx.warn("ConditioningAverage uses only the first entry of conditioning_from")
    weight = float(conditioning_to_strength)
    source, source_extras = conditioning_from[0]
    out = []
    for embeddings, extras in conditioning_to:
        blended = embeddings * weight + _match_length(source, embeddings.shape[1]) * (1.0 - weight)
        extras = dict(extras)
        pooled, source_pooled = extras.get("pooled_output"), source_extras.get("pooled_output")
        if pooled is not None and source_pooled is not None:
            extras["pooled_output"] = pooled * weight + source_pooled * (1.0 - weight)
        elif source_pooled is not None:
            extras["pooled_output"] = source_pooled
        out.append([blended, extras])
    return (out,)


MAX_RESOLUTION = 16384


@node("ConditioningSetArea", category="conditioning",
      inputs=[In("conditioning", "CONDITIONING"), Int("width", 64, min=64, max=MAX_RESOLUTION, step=8),
              Int("height", 64, min=64, max=MAX_RESOLUTION, step=8), Int("x", 0, min=0, max=MAX_RESOLUTION, step=8),
              Int("y", 0, min=0, max=MAX_RESOLUTION, step=8), Float("strength", 1.0, min=0.0, max=10.0, step=0.01)],
      outputs=[Out("CONDITIONING")],
      description="Applies the conditioning to a rectangle of the image only (in pixels); the sampler predicts "
                  "that region with it and blends it in, weighted by strength.")
def conditioning_set_area(conditioning, width, height, x, y, strength):
    area = (height // 8, width // 8, y // 8, x // 8)
    return ([[embeddings, dict(extras, area=area, strength=float(strength), set_area_to_bounds=False)]
             for embeddings, extras in conditioning],)


@node("ConditioningSetMask", category="conditioning",
      inputs=[In("conditioning", "CONDITIONING"), In("mask", "MASK"),
              Float("strength", 1.0, min=0.0, max=10.0, step=0.01), Combo("set_cond_area", ("default", "mask bounds"))],
      outputs=[Out("CONDITIONING")],
      description="Applies the conditioning where the mask is set, weighted by the mask and strength; 'mask "
                  "bounds' predicts only the mask's bounding box.")
def conditioning_set_mask(conditioning, mask, strength, set_cond_area="default"):
    mask = mask[None] if mask.dim() < 3 else mask
    return ([[embeddings, dict(extras, mask=mask, mask_strength=float(strength),
                               set_area_to_bounds=set_cond_area != "default")]
             for embeddings, extras in conditioning],)
