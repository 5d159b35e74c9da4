"""Prompt encoding for SD 1.x and SDXL, computed as diffusers' pipelines do.

- SD 1.x: CLIP-L's last hidden state after the final layer norm (``StableDiffusionPipeline``);
  CLIPSetLastLayer(-n) takes the n-th layer from the end, still normed (diffusers' ``clip_skip``).
- SDXL: CLIP-L's and OpenCLIP-G's penultimate hidden states (no final norm), concatenated along
  the width, and G's projected pooled output (``StableDiffusionXLPipeline.encode_prompt``).
- SDXL refiner: OpenCLIP-G alone.
Prompts are padded to 77 tokens with each tokenizer's pad token.
"""
from __future__ import annotations

import contextlib

import torch

from models.sd3.wrappers import TextEncoder
from models.stable_diffusion.wrappers import UNetClip

DEFAULT_LAYER = {"sd15": -1, "sdxl_base": -2, "sdxl_refiner": -2}


@torch.inference_mode()
def _encode_one(encoder: TextEncoder, text: str, layer: int, final_norm: bool, device) -> tuple:
    max_length = int(getattr(encoder.tokenizer, "model_max_length", 77) or 77)
    max_length = max_length if max_length < 100_000 else 77
    ids = encoder.tokenizer([text], padding="max_length", max_length=max_length, truncation=True,
                            return_tensors="pt").input_ids.to(device)
    output = encoder.model(ids, output_hidden_states=True)
    hidden = output.hidden_states[layer]
    if final_norm:
        hidden = getattr(encoder.model, "text_model", encoder.model).final_layer_norm(hidden)
    pooled = getattr(output, "text_embeds", None)
    return hidden.float().cpu(), (pooled.float().cpu() if pooled is not None else None)


@contextlib.contextmanager
def _placement(clip: UNetClip, manager):
    if not clip.run_on_cpu:
        with manager.on_device(clip) as device:
            yield device
        return
    for module in clip.torch_modules():
        module.to(torch.device("cpu"))
    yield torch.device("cpu")


def encode(clip: UNetClip, manager, text_l: str, text_g: str) -> list:
    """CONDITIONING ``[[embeddings [1, 77, width], {"pooled_output": ...}]]`` on the CPU in float32."""
    layer = clip.layer if clip.layer is not None else DEFAULT_LAYER[clip.variant]
    final_norm = clip.variant == "sd15"
    with _placement(clip, manager) as device, contextlib.ExitStack() as patched:
        for patch in clip.patches:  # LoRA: hooks on the encoders for this encoding only
            encoder = getattr(clip, patch.component, None)
            if encoder is not None:
                patched.enter_context(patch.apply(encoder.model))
        parts, pooled = [], None
        for encoder in (clip.clip_l, clip.clip_g):
            if encoder is None:
                continue
            hidden, encoder_pooled = _encode_one(encoder, text_l if encoder is clip.clip_l else text_g, layer,
                                                 final_norm, device)
            parts.append(hidden)
            pooled = encoder_pooled  # SDXL: the last encoder's (OpenCLIP-G's) projected pooled output
    if not parts:
        raise ValueError("this CLIP has no text encoder")
    return [[torch.cat(parts, dim=-1), {"pooled_output": pooled}]]
