"""ComfyUI's ``comfy.sd``: loading by file path through Plexus's loader nodes (for the model
families Plexus supports: SD3/SD3.5, FLUX.1), and LoRA through Plexus's ``LoraLoader`` node.

The files must sit in one of Plexus's model folders of their kind (``checkpoints``,
``diffusion_models``...), because Plexus's loaders take model names; a path elsewhere raises
``FileNotFoundError``. ComfyUI's ``CLIP``/``VAE``/``ModelPatcher`` classes are not Plexus's, so
creating them raises :class:`NotAvailableInPlexus`.
"""
from __future__ import annotations

import logging
from typing import Any

import _comfy_nodes
from _plexus_binding import current_node
from _unavailable import NotAvailableInPlexus, placeholder_getattr

log = logging.getLogger("plexus.plugins")


def load_checkpoint_guess_config(ckpt_path: str, output_vae: bool = True, output_clip: bool = True,
                                 output_clipvision: bool = False, embedding_directory: Any = None,
                                 output_model: bool = True, model_options: dict | None = None,
                                 te_model_options: dict | None = None) -> tuple:
    """``(model, clip, vae, clipvision)``; ``clipvision`` is always None."""
    name = _comfy_nodes.model_name_for_path("checkpoints", ckpt_path)
    model, clip, vae = _comfy_nodes.run_node("CheckpointLoaderSimple", ckpt_name=name)
    return (model if output_model else None, clip if output_clip else None, vae if output_vae else None, None)


def load_diffusion_model(unet_path: str, model_options: dict | None = None) -> Any:
    name = _comfy_nodes.model_name_for_path("diffusion_models", unet_path)
    return _comfy_nodes.run_node("UNETLoader", unet_name=name, weight_dtype="default")[0]


load_unet = load_diffusion_model


def load_lora_for_models(model: Any, clip: Any, lora: Any, strength_model: float, strength_clip: float) -> tuple:
    """``(model, clip)`` clones with the LoRA applied (the inputs are never changed). ``lora`` is
    the state dict ComfyUI code passes (``comfy.utils.load_torch_file(path)``), or a LoRA name
    (as listed in ``loras``) or path in a ``loras`` folder, read by Plexus's ``LoraLoader``."""
    if isinstance(lora, dict):
        return _apply_lora_tensors(model, clip, lora, strength_model, strength_clip)
    if not isinstance(lora, str):
        raise NotAvailableInPlexus(f"comfy.sd.load_lora_for_models(lora={type(lora).__name__})",
                                   "pass the LoRA state dict, or its file name")
    name = _comfy_nodes.model_name_for_path("loras", lora) if "/" in lora or "\\" in lora else lora
    if clip is None:
        return _comfy_nodes.run_node("LoraLoaderModelOnly", model=model, lora_name=name,
                                     strength_model=strength_model)[0], None
    return tuple(_comfy_nodes.run_node("LoraLoader", model=model, clip=clip, lora_name=name,
                                       strength_model=strength_model, strength_clip=strength_clip))


def _apply_lora_tensors(model: Any, clip: Any, tensors: dict, strength_model: float, strength_clip: float) -> tuple:
    if strength_model == 0 and strength_clip == 0:
        return model, clip
    from models.lora.adapters import adapters_from_tensors
    from models.lora.patch import apply_lora

    ctx = current_node.get()
    warn = ctx.warn if ctx is not None else log.warning
    return apply_lora(adapters_from_tensors(tensors, "lora"), model, clip, strength_model, strength_clip, warn=warn)


__getattr__ = placeholder_getattr(__name__, "ComfyUI's model classes are not Plexus's")
