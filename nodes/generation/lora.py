"""LoRA nodes (ComfyUI names and sockets): apply a file from models/loras/ to MODEL and CLIP.

The outputs are patched clones; the cached base model and text encoders are never changed, so one
base feeds a LoRA'd and a plain sampler. Key formats and families: ``models/lora/``.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Out, node
from models.folders import ModelListing

STRENGTH = dict(min=-100.0, max=100.0, step=0.01)


_lora_names = ModelListing("loras")  # a missing LoRA's error names models/loras/


def load_lora_file(services, lora_name: str):
    from models.lora.adapters import read_lora_file
    from models.managed import load_managed

    return load_managed(services, "loras", lora_name, lambda path, _dtype, _manager: read_lora_file(path))


def apply_lora_file(ctx, model, clip, lora_name: str, strength_model: float, strength_clip: float):
    """(model, clip) with the LoRA applied; both strengths 0 returns the inputs untouched."""
    if strength_model == 0 and strength_clip == 0:
        return model, clip
    from models.lora.patch import apply_lora

    lora = load_lora_file(ctx.services, lora_name)
    return apply_lora(lora, model, clip, strength_model, strength_clip, warn=ctx.warn)


@node("LoraLoader", category="loaders", display_name="Load LoRA",
      inputs=[In("model", "MODEL"), In("clip", "CLIP"), Combo("lora_name", _lora_names),
              Float("strength_model", 1.0, **STRENGTH), Float("strength_clip", 1.0, **STRENGTH)],
      outputs=[Out("MODEL"), Out("CLIP")],
      description="Applies a LoRA (kohya, diffusers/PEFT or ComfyUI keys) to the diffusion model and the text "
                  "encoders. Negative strengths subtract it; several loaders stack.")
def lora_loader(ctx, model, clip, lora_name, strength_model=1.0, strength_clip=1.0):
    return apply_lora_file(ctx, model, clip, lora_name, strength_model, strength_clip)


@node("LoraLoaderModelOnly", category="loaders", display_name="LoraLoaderModelOnly",
      inputs=[In("model", "MODEL"), Combo("lora_name", _lora_names), Float("strength_model", 1.0, **STRENGTH)],
      outputs=[Out("MODEL")],
      description="Applies a LoRA to the diffusion model only (text-encoder adapters in the file are skipped).")
def lora_loader_model_only(ctx, model, lora_name, strength_model=1.0):
    return (apply_lora_file(ctx, model, None, lora_name, strength_model, 0.0)[0],)
