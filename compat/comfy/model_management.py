"""ComfyUI's ``comfy.model_management``: interrupt checks and device helpers.

Interrupts act on the running node (``execution.context.current_node``); devices and dtypes come
from Plexus's model manager (``services.models``). torch is imported inside the functions.
"""
from __future__ import annotations

import gc
from typing import Any

import _plexus_binding as binding

from execution.context import InterruptedError_, current_node

InterruptProcessingException = InterruptedError_


class CPUState:
    GPU, CPU, MPS = 0, 1, 2


class VRAMState:
    DISABLED, NO_VRAM, LOW_VRAM, NORMAL_VRAM, HIGH_VRAM, SHARED = 0, 1, 2, 3, 4, 5


def processing_interrupted() -> bool:
    ctx = current_node.get()
    return bool(ctx is not None and ctx.interrupted)


def throw_exception_if_processing_interrupted() -> None:
    """Raises :data:`InterruptProcessingException` when the user interrupted the running prompt."""
    ctx = current_node.get()
    if ctx is not None:
        ctx.check_interrupt()


def interrupt_current_processing(value: bool = True) -> None:
    """Interrupt (or clear the interrupt of) the prompt whose node calls it."""
    ctx = current_node.get()
    if ctx is not None:
        flag = ctx._interrupt  # noqa: SLF001 - the running node's own flag
        if value:
            flag.set()
        else:
            flag.clear()


vram_state = VRAMState.NORMAL_VRAM
cpu_state = CPUState.GPU
DISABLE_SMART_MEMORY = False
current_loaded_models: list = []


def is_intel_xpu() -> bool:
    return False


def directml_enabled() -> bool:
    return False


def is_nvidia() -> bool:
    return is_device_cuda(get_torch_device())


def get_torch_device_name(device: Any) -> str:
    return str(device)


def get_autocast_device(device: Any) -> str:
    return getattr(device, "type", "cuda")


def module_size(module: Any) -> int:
    return sum(t.nelement() * t.element_size() for t in module.state_dict().values())


def free_memory(memory_required: int, device: Any, keep_loaded: list | None = None) -> None:
    """Plexus's model manager offloads by its own budget; a request to free frees everything."""
    unload_all_models()


def _manager() -> Any | None:
    try:
        return binding.services().models
    except Exception:  # noqa: BLE001 - no services bound, or no model manager in this build
        return None


def get_torch_device() -> Any:
    import torch

    manager = _manager()
    device = getattr(manager, "device", None)
    return device if device is not None else torch.device("cpu")


def intermediate_device() -> Any:
    import torch

    return torch.device("cpu")


def unet_offload_device() -> Any:
    return intermediate_device()


text_encoder_offload_device = vae_offload_device = unet_offload_device
text_encoder_device = vae_device = unet_inital_load_device = lambda *args, **kwargs: get_torch_device()


def _dtype() -> Any:
    import torch

    return getattr(_manager(), "dtype", None) or torch.float32


def unet_dtype(*_args: Any, **_kwargs: Any) -> Any:
    return _dtype()


vae_dtype = text_encoder_dtype = unet_dtype


def is_device_cpu(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cpu"


def is_device_mps(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "mps"


def is_device_cuda(device: Any) -> bool:
    return getattr(device, "type", str(device)) == "cuda"


def cpu_mode() -> bool:
    return is_device_cpu(get_torch_device())


def mps_mode() -> bool:
    return is_device_mps(get_torch_device())


def xformers_enabled() -> bool:
    return False


def pytorch_attention_enabled() -> bool:
    return True


def should_use_fp16(*_args: Any, **_kwargs: Any) -> bool:
    import torch

    return _dtype() == torch.float16


def should_use_bf16(*_args: Any, **_kwargs: Any) -> bool:
    import torch

    return _dtype() == torch.bfloat16


def get_free_memory(dev: Any = None, torch_free_too: bool = False) -> Any:
    import torch

    dev = dev if dev is not None else get_torch_device()
    if is_device_cuda(dev) and torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info(dev)
        return (free, free) if torch_free_too else free
    import psutil

    free = psutil.virtual_memory().available
    return (free, free) if torch_free_too else free


def get_total_memory(dev: Any = None, torch_total_too: bool = False) -> Any:
    import torch

    dev = dev if dev is not None else get_torch_device()
    if is_device_cuda(dev) and torch.cuda.is_available():
        _free, total = torch.cuda.mem_get_info(dev)
    else:
        import psutil

        total = psutil.virtual_memory().total
    return (total, total) if torch_total_too else total


def soft_empty_cache(force: bool = False) -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        torch.mps.empty_cache()


def unload_all_models() -> None:
    manager = _manager()
    if manager is not None:
        manager.free()
    soft_empty_cache()


def load_models_gpu(models: Any, *_args: Any, **_kwargs: Any) -> None:
    """Plexus's model manager places weights itself (``on_device``); nothing to do."""


def load_model_gpu(model: Any) -> None:
    load_models_gpu([model])


def cast_to_device(tensor: Any, device: Any, dtype: Any, copy: bool = False) -> Any:
    return tensor.to(device=device, dtype=dtype, copy=copy)


def __getattr__(name: str) -> Any:
    if name == "OOM_EXCEPTION":
        import torch

        return torch.cuda.OutOfMemoryError
    raise AttributeError(f"module 'comfy.model_management' has no attribute {name!r}")
