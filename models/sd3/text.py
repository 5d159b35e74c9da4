"""SD3 prompt encoding: CLIP-L + CLIP-G + T5 joint embedding and pooled output, computed exactly
as diffusers' ``StableDiffusion3Pipeline.encode_prompt`` does (penultimate CLIP hidden states,
CLIP widths zero-padded to T5's, CLIP tokens then T5 tokens; zeros for a missing T5).
"""
from __future__ import annotations

import contextlib

import torch

from models.sd3.wrappers import SD3Clip, TextEncoder

DEFAULT_WIDTHS = {"clip_l": 768, "clip_g": 1280}


def _clip_max_length(encoder: TextEncoder | None, fallback: int) -> int:
    if encoder is None:
        return fallback
    length = getattr(encoder.tokenizer, "model_max_length", fallback) or fallback
    return int(length) if length < 100_000 else fallback


@torch.inference_mode()
def _encode_clip(encoder: TextEncoder, text: str, max_length: int, device: torch.device) -> tuple[torch.Tensor,
                                                                                                    torch.Tensor]:
    ids = encoder.tokenizer([text], padding="max_length", max_length=max_length, truncation=True,
                            return_tensors="pt").input_ids
    output = encoder.model(ids.to(device), output_hidden_states=True)
    return output.hidden_states[-2].float().cpu(), output[0].float().cpu()


@torch.inference_mode()
def _encode_t5(encoder: TextEncoder, text: str, max_length: int, device: torch.device) -> torch.Tensor:
    ids = encoder.tokenizer([text], padding="max_length", max_length=max_length, truncation=True,
                            add_special_tokens=True, return_tensors="pt").input_ids
    return encoder.model(ids.to(device))[0].float().cpu()


def _width(encoder: TextEncoder | None, role: str) -> int:
    if encoder is None:
        return DEFAULT_WIDTHS[role]
    return int(encoder.model.config.hidden_size)


def _pooled_width(encoder: TextEncoder | None, role: str) -> int:
    if encoder is None:
        return DEFAULT_WIDTHS[role]
    return int(getattr(encoder.model.config, "projection_dim", encoder.model.config.hidden_size))


@contextlib.contextmanager
def _placement(clip: SD3Clip, manager):
    if not clip.run_on_cpu:
        with manager.on_device(clip) as device:
            yield device
        return
    cpu = torch.device("cpu")
    for module in clip.torch_modules():
        module.to(cpu)  # the manager moves it back when a device user next asks for it
    yield cpu


def encode_sd3(clip: SD3Clip, manager, clip_l_text: str, clip_g_text: str, t5_text: str,
               pad_empty: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(embeddings [1, 77 + 256, width], pooled [1, l + g]) on the CPU in float32.

    ``pad_empty=False`` is ComfyUI's ``empty_padding="none"``: an empty text gives that encoder's
    part as zeros instead of the encoding of an empty prompt.
    """
    clip_length = _clip_max_length(clip.clip_l or clip.clip_g, clip.clip_max_length)
    hidden_parts, pooled_parts = [], []
    with _placement(clip, manager) as device, contextlib.ExitStack() as patched:
        for patch in clip.patches:  # LoRA: hooks on the encoders for this encoding only
            encoder = getattr(clip, patch.component, None)
            if encoder is not None:
                patched.enter_context(patch.apply(encoder.model))
        for role, text in (("clip_l", clip_l_text), ("clip_g", clip_g_text)):
            encoder = getattr(clip, role)
            if encoder is None or (not pad_empty and text == ""):
                both_missing = clip.clip_l is None and clip.clip_g is None
                hidden_parts.append(torch.zeros(1, clip_length, 0 if both_missing else _width(encoder, role)))
                pooled_parts.append(torch.zeros(1, _pooled_width(encoder, role)))
                continue
            hidden, pooled = _encode_clip(encoder, text, clip_length, device)
            hidden_parts.append(hidden)
            pooled_parts.append(pooled)
        clip_hidden = torch.cat(hidden_parts, dim=-1)
        if clip.t5xxl is not None and (pad_empty or t5_text != ""):
            t5 = _encode_t5(clip.t5xxl, t5_text, clip.t5_max_length, device)
        else:
            width = int(clip.t5xxl.model.config.d_model) if clip.t5xxl is not None else \
                max(clip.joint_dim or 0, clip_hidden.shape[-1])
            t5 = torch.zeros(1, clip.t5_max_length, width)
    width = max(t5.shape[-1], clip_hidden.shape[-1])
    clip_hidden = torch.nn.functional.pad(clip_hidden, (0, width - clip_hidden.shape[-1]))
    t5 = torch.nn.functional.pad(t5, (0, width - t5.shape[-1]))
    return torch.cat([clip_hidden, t5], dim=-2), torch.cat(pooled_parts, dim=-1)
