"""IMAGE tensors ([B,H,W,C] floats in 0..1) to and from PIL images, for the transformers processors."""
from __future__ import annotations

import hashlib
from typing import Any


def tensor_to_pil_images(image: Any) -> list:
    """One RGB PIL image per batch item. Rounds (not truncates), so ``k/255`` values round-trip."""
    import numpy as np
    import torch
    from PIL import Image

    if image.ndim == 3:
        image = image.unsqueeze(0)
    if image.ndim != 4 or image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"expected an IMAGE tensor [B,H,W,C], got shape {tuple(image.shape)}")
    array = (image.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    pictures = []
    for item in array:
        if item.shape[-1] == 1:
            item = np.repeat(item, 3, axis=-1)
        pictures.append(Image.fromarray(np.ascontiguousarray(item[..., :3]), mode="RGB"))
    return pictures


def pil_to_tensor(picture: Any) -> Any:
    """A PIL image as an IMAGE batch of one."""
    import numpy as np
    import torch

    array = np.asarray(picture.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(array).unsqueeze(0)


def flatten_image_batches(images: list) -> list:
    """Each item of a list of IMAGE batches, as [H,W,C] tensors, in order."""
    pages = []
    for batch in images:
        if batch is None:
            continue
        pages.extend(batch if batch.ndim == 4 else [batch])
    return pages


def image_content_hash(image: Any) -> str:
    """A stable hash of the pixels (as 8-bit values) and the size of one [H,W,C] image."""
    import torch

    pixels = (image.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).contiguous()
    digest = hashlib.sha256(str(tuple(pixels.shape)).encode())
    digest.update(pixels.numpy().tobytes())
    return digest.hexdigest()
