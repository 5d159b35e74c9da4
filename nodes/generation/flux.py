"""FLUX.1 nodes: prompt encoding with guidance, the guidance input of distilled models, and the
resolution-dependent time shift. Loaders, KSampler and VAE nodes are the shared ones; the model
work lives in ``models/flux/``."""
from __future__ import annotations

from execution.declare import Float, In, Int, Out, String, node
from nodes.generation.latent import MAX_RESOLUTION


def _require_flux(value, socket: str) -> None:
    if getattr(value, "family", None) != "flux":
        raise ValueError(f"{socket} input is not a FLUX {socket.upper()}; load FLUX weights (UNETLoader with a "
                         f"flux1-*.safetensors, DualCLIPLoader type flux, or a FLUX checkpoint)")


@node("CLIPTextEncodeFlux", category="advanced/conditioning/flux",
      inputs=[In("clip", "CLIP"), String("clip_l", multiline=True, dynamic_prompts=True),
              String("t5xxl", multiline=True, dynamic_prompts=True),
              Float("guidance", 3.5, min=0.0, max=100.0, step=0.1)],
      outputs=[Out("CONDITIONING")],
      description="Separate texts for CLIP-L (pooled vector) and T5-XXL (token embeddings), with the guidance "
                  "strength a guidance-distilled FLUX model (dev) receives.")
def clip_text_encode_flux(ctx, clip, clip_l, t5xxl, guidance):
    if clip is None:
        raise RuntimeError("clip input is invalid: None; load the FLUX text encoders with DualCLIPLoader (type flux)")
    _require_flux(clip, "clip")
    from models.flux.text import encode_flux

    embeddings, pooled = encode_flux(clip, ctx.services.models, clip_l, t5xxl)
    return ([[embeddings, {"pooled_output": pooled, "guidance": float(guidance)}]],)


@node("FluxGuidance", category="advanced/conditioning/flux",
      inputs=[In("conditioning", "CONDITIONING"), Float("guidance", 3.5, min=0.0, max=100.0, step=0.1)],
      outputs=[Out("CONDITIONING")],
      description="Sets the guidance strength that FLUX.1 [dev] takes as an input (distilled CFG; sample with "
                  "cfg 1). Ignored by models without a guidance input (schnell).")
def flux_guidance(conditioning, guidance):
    return ([[embeddings, dict(extras, guidance=float(guidance))] for embeddings, extras in conditioning],)


@node("ModelSamplingFlux", category="advanced/model",
      inputs=[In("model", "MODEL"), Float("max_shift", 1.15, min=0.0, max=100.0, step=0.01),
              Float("base_shift", 0.5, min=0.0, max=100.0, step=0.01),
              Int("width", 1024, min=16, max=MAX_RESOLUTION, step=8),
              Int("height", 1024, min=16, max=MAX_RESOLUTION, step=8)],
      outputs=[Out("MODEL")],
      description="FLUX's resolution-dependent time shift: base_shift at 256 latent patches (512x512), "
                  "max_shift at 4096 (1024x1024), linear in between, as diffusers' FluxPipeline computes it. "
                  "Returns a patched clone.")
def model_sampling_flux(model, max_shift, base_shift, width, height):
    _require_flux(model, "model")
    from models.flux.wrappers import flux_mu

    return (model.with_mu(flux_mu(width, height, base_shift=base_shift, max_shift=max_shift)),)
