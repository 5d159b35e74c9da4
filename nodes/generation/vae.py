"""VAE nodes: IMAGE <-> LATENT, whole or in tiles for large images. No torch at module level."""
from __future__ import annotations

from execution.declare import In, Int, Out, node


def check_vae(vae) -> None:
    """The error every node taking a VAE gives for a missing one (a checkpoint without a VAE)."""
    if vae is None:
        raise RuntimeError("vae input is invalid: None. If the VAE is from a checkpoint loader node, the "
                           "checkpoint does not contain a VAE; load one with VAELoader.")


@node("VAEDecode", category="latent", display_name="VAE Decode",
      inputs=[In("samples", "LATENT"), In("vae", "VAE")], outputs=[Out("IMAGE")],
      description="Decodes latents into images (exactly as diffusers' SD3 pipeline does).")
def vae_decode(ctx, samples, vae):
    check_vae(vae)
    from models.manager import ModelOutOfMemoryError
    from models.sd3.vae_ops import decode, decode_tiled

    try:
        return (decode(vae, samples["samples"], ctx.services.models),)
    except ModelOutOfMemoryError:
        ctx.warn("Out of memory while decoding; models were unloaded and the image is decoded in tiles instead")
        return (decode_tiled(vae, samples["samples"], ctx.services.models),)


@node("VAEEncode", category="latent", display_name="VAE Encode",
      inputs=[In("pixels", "IMAGE"), In("vae", "VAE")], outputs=[Out("LATENT")],
      description="Encodes images into latents (the distribution's mode; cropped to a multiple of 8).")
def vae_encode(ctx, pixels, vae):
    check_vae(vae)
    from models.sd3.vae_ops import encode

    return ({"samples": encode(vae, pixels, ctx.services.models)},)


@node("VAEEncodeForInpaint", category="latent/inpaint", display_name="VAE Encode (for Inpainting)",
      inputs=[In("pixels", "IMAGE"), In("vae", "VAE"), In("mask", "MASK"),
              Int("grow_mask_by", 6, min=0, max=64, step=1)],
      outputs=[Out("LATENT")],
      description="Encodes the image with the masked area (mask > 0.5) set to neutral grey, and attaches the "
                  "mask, grown by grow_mask_by pixels, as the latent's noise mask: only that area is re-sampled.")
def vae_encode_for_inpaint(ctx, pixels, vae, mask, grow_mask_by=6):
    check_vae(vae)
    import math

    import torch

    from models.sd3.vae_ops import crop_with_mask, encode, grey_masked

    pixels, mask = crop_with_mask(pixels, mask, getattr(vae, "downscale", 8))
    grey_filled = grey_masked(pixels, mask)
    grown = hard = mask.round()
    if grow_mask_by > 0:  # dilate: any masked pixel within the kernel masks this one
        kernel = torch.ones(1, 1, grow_mask_by, grow_mask_by)
        grown = torch.nn.functional.conv2d(hard, kernel, padding=math.ceil((grow_mask_by - 1) / 2))
        grown = grown[..., :hard.shape[-2], :hard.shape[-1]].clamp(0, 1)
    samples = encode(vae, grey_filled, ctx.services.models)
    return ({"samples": samples, "noise_mask": grown.round()},)


@node("VAEDecodeTiled", category="_for_testing", display_name="VAE Decode (Tiled)",
      inputs=[In("samples", "LATENT"), In("vae", "VAE"), Int("tile_size", 512, min=64, max=4096, step=32),
              Int("overlap", 64, min=0, max=4096, step=32),
              Int("temporal_size", 64, min=8, max=4096, step=4, optional=True),
              Int("temporal_overlap", 8, min=4, max=4096, step=4, optional=True)],
      outputs=[Out("IMAGE")], description="Decodes in overlapping tiles to bound memory on large images.")
def vae_decode_tiled(ctx, samples, vae, tile_size, overlap, temporal_size=64, temporal_overlap=8):
    check_vae(vae)
    from models.sd3.vae_ops import decode_tiled

    return (decode_tiled(vae, samples["samples"], ctx.services.models, tile_size, overlap),)


@node("VAEEncodeTiled", category="_for_testing", display_name="VAE Encode (Tiled)",
      inputs=[In("pixels", "IMAGE"), In("vae", "VAE"), Int("tile_size", 512, min=64, max=4096, step=64),
              Int("overlap", 64, min=0, max=4096, step=32),
              Int("temporal_size", 64, min=8, max=4096, step=4, optional=True),
              Int("temporal_overlap", 8, min=4, max=4096, step=4, optional=True)],
      outputs=[Out("LATENT")], description="Encodes in overlapping tiles to bound memory on large images.")
def vae_encode_tiled(ctx, pixels, vae, tile_size, overlap, temporal_size=64, temporal_overlap=8):
    check_vae(vae)
    from models.sd3.vae_ops import encode_tiled

    return ({"samples": encode_tiled(vae, pixels, ctx.services.models, tile_size, overlap)},)
