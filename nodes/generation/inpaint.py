"""Inpainting with models trained for it (FLUX.1 Fill): the masked image travels in the
conditioning, and DifferentialDiffusion reads a soft mask as a per-step schedule. The model work
lives in ``models/flux/concat.py`` and ``models/differential_diffusion.py``."""
from __future__ import annotations

from execution.declare import Boolean, Float, In, Out, node
from nodes.generation.vae import check_vae


@node("InpaintModelConditioning", category="conditioning/inpaint",
      inputs=[In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("vae", "VAE"),
              In("pixels", "IMAGE"), In("mask", "MASK"),
              Boolean("noise_mask", True, tooltip="Add the mask to the latent as its noise mask, so that only the "
                      "masked area is re-sampled; off, the model redraws the whole image and keeps the unmasked "
                      "area only through its conditioning.")],
      outputs=[Out("CONDITIONING", "positive"), Out("CONDITIONING", "negative"), Out("LATENT", "latent")],
      description="For inpainting models (FLUX.1 Fill): encodes the image with the masked area (mask > 0.5) "
                  "set to neutral grey and adds that latent and the mask to both conditionings; the latent "
                  "output is the encoded original image.")
def inpaint_model_conditioning(ctx, positive, negative, vae, pixels, mask, noise_mask=True):
    check_vae(vae)
    from models.sd3.vae_ops import crop_with_mask, encode, grey_masked

    pixels, mask = crop_with_mask(pixels[..., :3].float(), mask, getattr(vae, "downscale", 8))
    concat_latent = encode(vae, grey_masked(pixels, mask), ctx.services.models)
    latent = {"samples": encode(vae, pixels, ctx.services.models)}
    if noise_mask:
        latent["noise_mask"] = mask

    def with_image(conditioning):
        return [[embeddings, dict(extras, concat_latent_image=concat_latent, concat_mask=mask)]
                for embeddings, extras in conditioning]

    return with_image(positive), with_image(negative), latent


@node("DifferentialDiffusion", category="_for_testing",
      inputs=[In("model", "MODEL"), Float("strength", 1.0, min=0.0, max=1.0, step=0.01, optional=True)],
      outputs=[Out("MODEL")],
      description="Soft inpainting: each area of the latent's noise mask is re-sampled only from the step where "
                  "the remaining fraction of the run reaches its mask value (1 from the start, 0 never). "
                  "strength < 1 blends that with the plain soft mask. Returns a patched clone.")
def differential_diffusion(model, strength=1.0):
    if not hasattr(model, "with_patch"):
        raise ValueError("model input is not a diffusion MODEL that can be patched")
    from models.differential_diffusion import DifferentialDiffusion

    return (model.with_patch(DifferentialDiffusion(float(strength))),)
