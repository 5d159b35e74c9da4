"""ImageCompare: two images shown side by side (a slider in the official frontend)."""
from __future__ import annotations

from execution.declare import Hidden, In, node


@node("ImageCompare", category="image", display_name="Image Compare", output_node=True,
      inputs=[In("image_a", "IMAGE", optional=True), In("image_b", "IMAGE", optional=True),
              Hidden("prompt", "PROMPT"), Hidden("extra_pnginfo", "EXTRA_PNGINFO")],
      outputs=[])
def image_compare(ctx, image_a=None, image_b=None, prompt=None, extra_pnginfo=None):
    """Preview two images for comparison: ``ui`` carries ``a_images`` and ``b_images`` (temp files)."""
    from nodes.image.images import preview_image

    shown = {"a_images": [], "b_images": []}
    for key, images in (("a_images", image_a), ("b_images", image_b)):
        if images is not None and len(images) > 0:
            shown[key] = preview_image(ctx, images, prompt, extra_pnginfo)["ui"]["images"]
    return {"ui": shown}
