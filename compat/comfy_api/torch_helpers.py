"""ComfyUI's ``comfy_api.torch_helpers``. Plexus's MODEL values are its own wrappers, so ComfyUI's
torch.compile wrapper cannot be installed on them: calling it raises this one clear error."""
from __future__ import annotations

from typing import Any

from _unavailable import NotAvailableInPlexus


def set_torch_compile_wrapper(model: Any, *_args: Any, **_kwargs: Any) -> None:
    raise NotAvailableInPlexus("comfy_api.torch_helpers.set_torch_compile_wrapper",
                               "Plexus models are not ComfyUI ModelPatchers; torch.compile wrappers are not supported")
