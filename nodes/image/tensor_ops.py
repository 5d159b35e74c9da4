"""Tensor helpers shared by image, latent and mask nodes (torch is imported lazily by callers).

IMAGE tensors are [B, H, W, C] floats in 0..1; latents and masks are channel-first.
"""
from __future__ import annotations

from typing import Any

UPSCALE_METHODS = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
CROP_MODES = ["disabled", "center", "top", "bottom", "left", "right"]


def center_crop_box(src_w: int, src_h: int, dst_w: int, dst_h: int, mode: str) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the source region with the target's aspect ratio."""
    if mode == "disabled":
        return 0, 0, src_w, src_h
    src_ratio, dst_ratio = src_w / src_h, dst_w / dst_h
    if src_ratio > dst_ratio:  # too wide: trim left/right
        new_w = max(1, round(src_h * dst_ratio))
        x0 = {"left": 0, "right": src_w - new_w}.get(mode, (src_w - new_w) // 2)
        return x0, 0, x0 + new_w, src_h
    new_h = max(1, round(src_w / dst_ratio))
    y0 = {"top": 0, "bottom": src_h - new_h}.get(mode, (src_h - new_h) // 2)
    return 0, y0, src_w, y0 + new_h


def resize_channels_first(samples: Any, width: int, height: int, method: str, crop: str = "disabled") -> Any:
    """Resize [B, C, H, W] to (height, width), optionally cropping to the aspect ratio first."""
    import torch.nn.functional as F

    x0, y0, x1, y1 = center_crop_box(samples.shape[-1], samples.shape[-2], width, height, crop)
    samples = samples[..., y0:y1, x0:x1]
    if method == "lanczos":
        return _lanczos(samples, width, height)
    if method in ("bilinear", "bicubic"):
        return F.interpolate(samples, size=(height, width), mode=method, align_corners=False, antialias=True)
    return F.interpolate(samples, size=(height, width), mode=method)


def _lanczos(samples: Any, width: int, height: int) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for item in samples.float().cpu():
        channels = []
        for channel in item:  # resample each channel as a float image, keeping values unclipped
            image = Image.fromarray(channel.numpy().astype(np.float32), mode="F")
            channels.append(torch.from_numpy(np.array(image.resize((width, height), Image.LANCZOS))))
        out.append(torch.stack(channels))
    return torch.stack(out).to(samples.device, samples.dtype)


def resize_image(image: Any, width: int, height: int, method: str, crop: str = "disabled") -> Any:
    """Resize an IMAGE [B, H, W, C]."""
    resized = resize_channels_first(image.movedim(-1, 1), width, height, method, crop)
    return resized.movedim(1, -1).clamp(0.0, 1.0)


def tensor_to_pil(image: Any) -> Any:
    """One [H, W, C] image tensor to a PIL image, 8 bits as ComfyUI makes them: ``uint8(clip(255*x))``,
    which truncates (0.999 -> 254), so saved files are byte-identical to ComfyUI's."""
    import numpy as np
    import torch
    from PIL import Image

    tensor = image.detach().cpu()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    array = np.clip(255.0 * tensor.numpy(), 0, 255).astype(np.uint8)
    if array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def pil_to_tensor(image: Any) -> Any:
    """A PIL image to a [1, H, W, 3] float tensor."""
    import numpy as np
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array)[None]
