"""LoRA key map for SD 1.x / SDXL: the U-Net (diffusers' ``UNet2DConditionModel``) and the CLIP-L /
OpenCLIP-G text encoders.

Accepted module-name spellings (the adapter suffix follows):

- U-Net, diffusers names (``down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q``): kohya
  ``lora_unet_<name with _>`` (SD 1.x trainers), diffusers ``unet.``, PEFT ``base_model.model.``, bare;
- U-Net, original LDM names (``input_blocks.4.1.transformer_blocks.0.attn1.to_q``): kohya
  ``lora_unet_<name with _>`` (SDXL trainers), ComfyUI ``diffusion_model.``; the LDM name of each
  module comes from the same conversion the demo files are written with (``layout.unet_from_diffusers``);
- text encoders (transformers names, ``text_model.encoder.layers.N.self_attn.q_proj``): kohya
  ``lora_te_`` (SD 1.x) / ``lora_te1_`` / ``lora_te2_`` (SDXL: CLIP-L, OpenCLIP-G), diffusers
  ``text_encoder.`` / ``text_encoder_2.``.
"""
from __future__ import annotations

from typing import Any

from models.lora.key_maps import MODEL_COMPONENT, KeyMap, Target, linear_like_modules, underscored

DIFFUSERS_PREFIXES = ("unet.", "base_model.model.", "")
ORIGINAL_PREFIXES = ("diffusion_model.", "model.diffusion_model.")


def ldm_module_names(unet: Any, names: list[str]) -> dict[str, str]:
    """diffusers module path -> its LDM path."""
    from models.stable_diffusion.layout import unet_from_diffusers

    out = {}
    config = dict(unet.config)
    for name in names:
        try:
            converted = unet_from_diffusers({name + ".weight": None}, config)
        except ValueError:  # a module without an LDM counterpart: reachable by its diffusers name only
            continue
        out[name] = next(iter(converted)).removesuffix(".weight")
    return out


def _encoder_prefixes(variant: str) -> dict[str, tuple[str, ...]]:
    """role -> (kohya prefix(es), diffusers prefix)."""
    if variant == "sd15":
        return {"clip_l": ("lora_te_", "lora_te1_", "text_encoder.")}
    if variant == "sdxl_refiner":
        return {"clip_g": ("lora_te2_", "lora_te_", "text_encoder_2.")}
    return {"clip_l": ("lora_te1_", "text_encoder."), "clip_g": ("lora_te2_", "text_encoder_2.")}


def build_key_map(model: Any, clip: Any) -> KeyMap:
    targets: dict[str, list[Target]] = {}
    variant = getattr(model, "variant", None) or getattr(clip, "variant", "sd15")
    if model is not None:
        names = linear_like_modules(model.unet)
        originals = ldm_module_names(model.unet, names)
        for name in names:
            found = [Target(MODEL_COMPONENT, name)]
            for prefix in DIFFUSERS_PREFIXES:
                targets.setdefault(prefix + name, found)
            targets["lora_unet_" + underscored(name)] = found
            original = originals.get(name)
            if original is None:
                continue
            targets["lora_unet_" + underscored(original)] = found
            for prefix in ORIGINAL_PREFIXES:
                targets[prefix + original] = found
    prefixes_by_role = _encoder_prefixes(variant)
    for role, prefixes in prefixes_by_role.items():
        encoder = getattr(clip, role, None) if clip is not None else None
        if encoder is None:
            continue
        for name in linear_like_modules(encoder.model):
            found = [Target(role, name)]
            for prefix in prefixes:
                targets[prefix + (underscored(name) if prefix.startswith("lora_") else name)] = found
    component_prefixes = {role: prefixes for role, prefixes in prefixes_by_role.items()}
    component_prefixes[MODEL_COMPONENT] = ("lora_unet_", "unet.", "base_model.model.", *ORIGINAL_PREFIXES)
    return KeyMap(targets, component_prefixes)

