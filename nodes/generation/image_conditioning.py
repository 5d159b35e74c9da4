"""Conditioning on a whole input image for models that take its latent as extra input channels
(FLUX.1 Canny [dev] and Depth [dev] with a Canny or depth map). The model side lives in
``models/flux/concat.py``."""
from __future__ import annotations

from execution.declare import In, Out, node
from nodes.generation.vae import check_vae


@node("InstructPixToPixConditioning", category="conditioning/instructpix2pix",
      inputs=[In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("vae", "VAE"),
              In("pixels", "IMAGE")],
      outputs=[Out("CONDITIONING", "positive"), Out("CONDITIONING", "negative"), Out("LATENT", "latent")],
      description="Encodes the image (cropped to a multiple of 8) and adds its latent to both conditionings, "
                  "for models that take it as extra input channels (FLUX.1 Canny / Depth). The latent output "
                  "is an empty latent of the image's size.")
def instruct_pix_to_pix_conditioning(ctx, positive, negative, vae, pixels):
    check_vae(vae)
    import torch

    from models.sd3.vae_ops import encode

    image_latent = encode(vae, pixels, ctx.services.models)

    def with_image(conditioning):
        return [[embeddings, dict(extras, concat_latent_image=image_latent)] for embeddings, extras in conditioning]

    return with_image(positive), with_image(negative), {"samples": torch.zeros_like(image_latent)}
