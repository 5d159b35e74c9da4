"""ComfyUI's ``comfy.utils``: ``ProgressBar``, ``common_upscale``, ``load_torch_file`` (safetensors only).

torch is imported inside the functions, so importing this module stays cheap at server start.
"""
from __future__ import annotations

import os
from typing import Any

from _unavailable import placeholder_getattr

from execution.context import current_node

PROGRESS_BAR_ENABLED = True
SAFE_SUFFIXES = (".safetensors", ".sft")


class UnsafeCheckpoint(ValueError):
    """A pickle-based checkpoint: Plexus never unpickles model files."""


def set_progress_bar_enabled(enabled: bool) -> None:
    """Accepted for compatibility: Plexus's progress events go to the prompt's client, not a tty."""


def _preview_image(preview: Any) -> Any:
    """ComfyUI passes ``("JPEG", PIL.Image, max_size)``; a bare image is accepted too."""
    if isinstance(preview, (tuple, list)) and len(preview) >= 2:
        preview = preview[1]
    return preview if hasattr(preview, "save") else None


class ProgressBar:
    """Progress of the node that created it, sent as ``progress`` events to the prompt's client.

    The node is captured at construction, so updates from a helper thread still reach it. Each
    update also checks for an interrupt, as ComfyUI's progress hook does.
    """

    def __init__(self, total: int, node_id: str | None = None):
        self.total = int(total)
        self.current = 0
        self.node_id = node_id
        self._ctx = current_node.get()

    def update_absolute(self, value: int, total: int | None = None, preview: Any = None) -> None:
        if total is not None:
            self.total = int(total)
        self.current = min(int(value), self.total) if self.total > 0 else int(value)
        ctx = self._ctx or current_node.get()
        if ctx is not None:
            ctx.progress(self.current, self.total, preview=_preview_image(preview))

    def update(self, value: int) -> None:
        self.update_absolute(self.current + int(value))


def load_torch_file(ckpt: str, safe_load: bool = False, device: Any = None,
                    return_metadata: bool = False) -> Any:
    """A state dict from a ``.safetensors`` file. Pickle formats (``.ckpt``, ``.pt``, ``.bin``)
    are refused with :class:`UnsafeCheckpoint`, whatever ``safe_load`` says."""
    if not str(ckpt).lower().endswith(SAFE_SUFFIXES):
        raise UnsafeCheckpoint(f"{os.path.basename(str(ckpt))}: Plexus loads weights from safetensors files only "
                               "(pickle checkpoints can run arbitrary code); convert it to .safetensors")
    from safetensors import safe_open
    from safetensors.torch import load_file

    target = "cpu" if device is None else str(device)
    state = load_file(str(ckpt), device=target)
    if not return_metadata:
        return state
    with safe_open(str(ckpt), framework="pt") as handle:
        return state, handle.metadata()


def save_torch_file(state_dict: dict, ckpt: str, metadata: dict | None = None) -> None:
    from safetensors.torch import save_file

    # safetensors refuses non-contiguous tensors; Plexus keeps conv weights in channels_last
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(ckpt), metadata=metadata)


def repeat_to_batch_size(tensor: Any, batch_size: int, dim: int = 0) -> Any:
    """Repeat (or cut) ``tensor`` along ``dim`` to ``batch_size`` items."""
    size = tensor.shape[dim]
    if size > batch_size:
        return tensor.narrow(dim, 0, batch_size)
    if size < batch_size:
        reps = [1] * tensor.ndim
        reps[dim] = -(-batch_size // size)
        return tensor.repeat(*reps).narrow(dim, 0, batch_size)
    return tensor


def _center_crop(samples: Any, width: int, height: int) -> Any:
    old_h, old_w = samples.shape[-2], samples.shape[-1]
    if old_w == 0 or old_h == 0 or width == 0 or height == 0:
        return samples
    old_aspect, new_aspect = old_w / old_h, width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_w - old_w * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_h - old_h * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_h - 2 * y).narrow(-1, x, old_w - 2 * x)


def _lanczos(samples: Any, width: int, height: int) -> Any:
    import numpy as np
    import torch
    from PIL import Image

    out = []
    for image in samples.movedim(1, -1).float().cpu():  # [H, W, C] each
        array = (image.clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        mode_array = array[..., 0] if array.shape[-1] == 1 else array
        resized = Image.fromarray(mode_array).resize((width, height), Image.Resampling.LANCZOS)
        result = torch.from_numpy(np.asarray(resized).astype(np.float32) / 255.0)
        out.append(result.unsqueeze(-1) if result.ndim == 2 else result)
    return torch.stack(out).movedim(-1, 1).to(samples.device, samples.dtype)


def common_upscale(samples: Any, width: int, height: int, upscale_method: str, crop: str) -> Any:
    """Resize ``[B, C, H, W]`` samples to ``width`` x ``height``.

    Methods: ``nearest-exact``, ``bilinear``, ``area``, ``bicubic``, ``lanczos`` (``bislerp`` is
    treated as bilinear). ``crop="center"`` first crops to the target aspect ratio.
    """
    import torch.nn.functional as F

    if crop == "center":
        samples = _center_crop(samples, width, height)
    if upscale_method == "lanczos":
        return _lanczos(samples, width, height)
    mode = {"bislerp": "bilinear"}.get(upscale_method, upscale_method)
    kwargs = {"align_corners": False} if mode in ("bilinear", "bicubic") else {}
    squeeze = samples.ndim == 3
    data = samples.unsqueeze(0) if squeeze else samples
    result = F.interpolate(data, size=(int(height), int(width)), mode=mode, **kwargs)
    return result.squeeze(0) if squeeze else result


def state_dict_prefix_replace(state_dict: dict, replace_prefix: dict, filter_keys: bool = False) -> dict:
    """Rename keys by prefix (``{old: new}``). In place, or with ``filter_keys`` a new dict of
    only the renamed keys."""
    out = {} if filter_keys else state_dict
    for old, new in replace_prefix.items():
        for key in [k for k in state_dict if k.startswith(old)]:
            value = state_dict[key] if filter_keys else state_dict.pop(key)
            out[new + key[len(old):]] = value
    return out


def state_dict_key_replace(state_dict: dict, keys_to_replace: dict) -> dict:
    """Rename whole keys (``{old: new}``) in place."""
    for old, new in keys_to_replace.items():
        if old in state_dict:
            state_dict[new] = state_dict.pop(old)
    return state_dict


def get_attr(obj: Any, attr: str) -> Any:
    """``obj.a.b.c`` for ``"a.b.c"``."""
    for name in attr.split("."):
        obj = getattr(obj, name)
    return obj


def set_attr(obj: Any, attr: str, value: Any) -> Any:
    """Set ``obj.a.b.c``; returns the previous value."""
    *path, last = attr.split(".")
    owner = get_attr(obj, ".".join(path)) if path else obj
    previous = getattr(owner, last)
    setattr(owner, last, value)
    return previous


PROGRESS_BAR_HOOK = None


def set_progress_bar_global_hook(function: Any) -> None:
    """Accepted for compatibility: Plexus reports progress per node itself."""
    global PROGRESS_BAR_HOOK
    PROGRESS_BAR_HOOK = function


def lanczos(samples: Any, width: int, height: int) -> Any:
    return _lanczos(samples, width, height)


__getattr__ = placeholder_getattr(__name__, "a ComfyUI-internal helper")
