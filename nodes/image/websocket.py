"""SaveImageWebsocket: images straight to the websocket client, as ComfyUI's node of that name
(from its ``custom_nodes/websocket_image_save.py``) sends them: one full-size PNG binary frame per
image, no file and no metadata."""
from __future__ import annotations

import io
import time

from execution.declare import In, node


def png_bytes(image) -> bytes:
    """An [H, W, C] image as PNG, 8-bit values truncated like SaveImage (uint8(clip(255 x)))."""
    import numpy as np
    from PIL import Image

    array = np.clip(255.0 * image.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, format="PNG")
    return buffer.getvalue()


@node("SaveImageWebsocket", category="api node/image", display_name="SaveImageWebsocket", output_node=True,
      inputs=[In("images", "IMAGE")], outputs=[], fingerprint=lambda _services, **_: time.time())
def save_image_websocket(ctx, images):
    """Send each image to the client over the websocket (binary PNG frames); nothing is written."""
    for image in images:
        ctx.send_image(png_bytes(image))
    return {"ui": {}}
