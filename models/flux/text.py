"""FLUX prompt encoding, computed exactly as diffusers' ``FluxPipeline.encode_prompt`` does: CLIP-L's
pooled output (``pooler_output``, not the projection) and T5-XXL's last hidden states, padded to
``t5_max_length`` tokens (256, ComfyUI's length for FLUX; diffusers' ``max_sequence_length``)."""
from __future__ import annotations

import contextlib

import torch

from models.flux.wrappers import FluxClip
from models.sd3.wrappers import TextEncoder

CLIP_L_WIDTH, T5_WIDTH = 768, 4096


@torch.inference_mode()
def _clip_pooled(encoder: TextEncoder, text: str, max_length: int, device: torch.device) -> torch.Tensor:
    ids = encoder.tokenizer([text], padding="max_length", max_length=max_length, truncation=True,
                            return_tensors="pt").input_ids
    # The pooled output before any projection: CLIPTextModelWithProjection keeps it in .text_model
    text_model = getattr(encoder.model, "text_model", encoder.model)
    return text_model(ids.to(device)).pooler_output.float().cpu()


@torch.inference_mode()
def _t5_hidden(encoder: TextEncoder, text: str, max_length: int, device: torch.device) -> torch.Tensor:
    ids = encoder.tokenizer([text], padding="max_length", max_length=max_length, truncation=True,
                            return_tensors="pt").input_ids
    return encoder.model(ids.to(device))[0].float().cpu()


@contextlib.contextmanager
def _placement(clip: FluxClip, manager):
    if not clip.run_on_cpu:
        with manager.on_device(clip) as device:
            yield device
        return
    cpu = torch.device("cpu")
    for module in clip.torch_modules():
        module.to(cpu)  # the manager moves it back when a device user next asks for it
    yield cpu


def _clip_length(clip: FluxClip) -> int:
    length = getattr(clip.clip_l.tokenizer, "model_max_length", None) if clip.clip_l else None
    return int(length) if length and length < 100_000 else clip.clip_max_length


def encode_flux(clip: FluxClip, manager, clip_l_text: str, t5_text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(T5 embeddings [1, t5_max_length, width], CLIP-L pooled [1, 768]) on the CPU in float32.
    A missing encoder gives zeros of its usual width."""
    with _placement(clip, manager) as device, contextlib.ExitStack() as patched:
        for patch in clip.patches:  # LoRA: hooks on the encoders for this encoding only
            encoder = getattr(clip, patch.component, None)
            if encoder is not None:
                patched.enter_context(patch.apply(encoder.model))
        if clip.clip_l is not None:
            pooled = _clip_pooled(clip.clip_l, clip_l_text, _clip_length(clip), device)
        else:
            pooled = torch.zeros(1, CLIP_L_WIDTH)
        if clip.t5xxl is not None:
            embeddings = _t5_hidden(clip.t5xxl, t5_text, clip.t5_max_length, device)
        else:
            embeddings = torch.zeros(1, clip.t5_max_length, T5_WIDTH)
    return embeddings, pooled
