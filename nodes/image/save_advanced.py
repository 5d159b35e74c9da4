"""SaveImageAdvanced: ComfyUI's saver with a format choice (a DynamicCombo: each format brings its
own widgets). PNG in 8 or 16 bits per channel and AVIF are written; EXR is refused at validation
(no EXR library in the environment)."""
from __future__ import annotations

import io
from typing import Any

from execution.declare import Combo, DynamicCombo, Hidden, In, Int, Out, String, node


FORMATS = {
    "png": [Combo("bit_depth", ["8-bit", "16-bit"], default="8-bit",
                  tooltip="The bit depth used when saving the image."),
            Combo("input_color_space", ["sRGB"], default="sRGB", tooltip="The color space of the input tensor.")],
    "exr": [Combo("bit_depth", ["32-bit float"], default="32-bit float"),
            Combo("input_color_space", ["sRGB", "HDR", "linear"], default="sRGB",
                  tooltip="Colorspace of the input tensor. The EXR is always written as scene-linear.")],
    "avif": [Combo("bit_depth", ["8-bit"], default="8-bit"),
             Combo("input_color_space", ["sRGB"], default="sRGB"),
             Int("crf", 23, min=0, max=63, tooltip="Constant rate factor: 0 is best, 63 smallest.")],
}
NOT_WRITABLE = {"exr": "saving EXR is not available in Plexus (no OpenEXR writer is installed); "
                       "choose png (16-bit keeps the most precision) or avif"}


def _validate(services: Any, format: Any = None, **_: Any):
    if not isinstance(format, str) or format not in FORMATS:  # this hook replaces the built-in combo check of ``format``
        return f"format {format!r} is not one of {list(FORMATS)}"
    return f"format {format!r}: {NOT_WRITABLE[format]}" if format in NOT_WRITABLE else True


@node("SaveImageAdvanced", category="image", output_node=True, display_name="Save Image (Advanced)",
      inputs=[In("images", "IMAGE", tooltip="The images to save."),
              String("filename_prefix", "ComfyUI", tooltip="The prefix for the file to save. May include subfolders."),
              DynamicCombo("format", FORMATS, default="png", tooltip="The file format in which to save the image."),
              Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")],
      outputs=[Out("IMAGE", "images")], validate=_validate)
def save_image_advanced(ctx, images, filename_prefix: str, format: dict, prompt=None, extra_pnginfo=None):
    """Saves the input images to the output folder as <prefix>_<#####>.<ext>, with the workflow."""
    from models.output_journal import write_noted
    from nodes.image.images import save_numbered_files

    kind = format["format"]
    if kind in NOT_WRITABLE:
        raise ValueError(f"format {kind!r}: {NOT_WRITABLE[kind]}")
    encode = _encoder(ctx, kind, format, prompt, extra_pnginfo)
    shown = save_numbered_files(ctx, images, filename_prefix, ctx.services.paths.output_dir, "output",
                                lambda image, path: write_noted(ctx.services, path, encode(image)),
                                lambda stem, counter: f"{stem}_{counter:05}.{kind}")
    return {"ui": shown["ui"], "result": (images,)}


def _encoder(ctx, kind: str, format: dict, prompt: dict | None, extra_pnginfo: dict | None):
    """``encode(image) -> bytes`` of the whole file; the PNG metadata is serialised once per run."""
    from nodes.image.images import png_bytes, png_metadata, png_text
    from nodes.image.tensor_ops import tensor_to_pil

    level = getattr(ctx.services, "png_compress_level", None)
    compress_level = 4 if level is None else level
    if kind == "png" and format.get("bit_depth") == "16-bit":
        chunks = png_metadata(ctx, prompt, extra_pnginfo)
        return lambda image: _png16_bytes(image, chunks, compress_level)
    if kind == "png":
        text = png_text(ctx, prompt, extra_pnginfo)
        return lambda image: png_bytes(tensor_to_pil(image), text, compress_level)
    quality = round(100 * (63 - int(format.get("crf", 23))) / 63)

    def avif(image: Any) -> bytes:
        buffer = io.BytesIO()
        tensor_to_pil(image).save(buffer, format="AVIF", quality=quality)
        return buffer.getvalue()
    return avif


def _png16_bytes(image: Any, chunks: dict[str, str], compress_level: int) -> bytes:
    """16 bits per channel, ``uint16(clip(65535*x, 0, 65535))``: the 8-bit rule at 16 bits."""
    import numpy as np

    from nodes.image.png_encoding import encode_png16

    array = image.detach().float().cpu().numpy()
    return encode_png16(np.clip(65535.0 * array, 0, 65535).astype(np.uint16), chunks, compress_level)
