"""The model manager: lazy cache, LRU offload over a budget, free, and out-of-memory recovery."""
from __future__ import annotations

import pytest
import torch

from models.manager import ModelManager, ModelOutOfMemoryError, pick_device, pick_dtype


def test_device_and_dtype_choice():
    assert pick_device(force_cpu=True).type == "cpu"
    assert pick_dtype(torch.device("cpu")) == torch.float32
    assert pick_dtype(torch.device("mps")) == torch.float16
    manager = ModelManager(force_cpu=True)
    assert manager.device.type == "cpu" and manager.dtype == torch.float32


def test_get_or_load_is_lazy_and_cached():
    manager = ModelManager(force_cpu=True)
    calls = []

    def load():
        calls.append(1)
        return torch.nn.Linear(4, 4)

    first = manager.get_or_load("a", load)
    assert manager.get_or_load("a", load) is first and calls == [1]
    assert manager.loaded_models() == [{"name": "a", "device": "cpu", "bytes": (16 + 4) * 4}]
    manager.free()
    assert manager.loaded_models() == [] and not manager.is_loaded("a")
    assert manager.get_or_load("a", load) is not first and calls == [1, 1]


def test_least_recently_used_modules_are_offloaded_over_budget():
    """Placement logic with stand-in devices: the CPU plays the accelerator and 'meta' the offload
    target, so an offloaded module is easy to spot."""
    manager = ModelManager(force_cpu=True, vram_budget_gb=0)
    manager.offload_device = torch.device("meta")
    a, b, c = (torch.nn.Linear(8, 8) for _ in range(3))
    manager.vram_budget_bytes = 2 * sum(p.numel() * 4 for p in a.parameters())
    with manager.on_device(a):
        pass
    with manager.on_device(b):
        pass
    with manager.on_device(a):  # a is now the most recently used
        pass
    with manager.on_device(c):  # over budget: b, the least recently used, is offloaded
        assert not c.weight.is_meta
    assert b.weight.is_meta and not a.weight.is_meta and not c.weight.is_meta
    with manager.on_device(a, c):  # both in use: within budget, nothing else to move
        pass
    assert not a.weight.is_meta and not c.weight.is_meta


def test_out_of_memory_in_loader_frees_and_explains():
    manager = ModelManager(force_cpu=True)
    manager.get_or_load("kept", lambda: torch.nn.Linear(2, 2))

    def explode():
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    with pytest.raises(ModelOutOfMemoryError, match="Out of memory .* All models were unloaded"):
        manager.get_or_load("big", explode)
    assert manager.loaded_models() == []


def test_out_of_memory_in_a_node_is_a_node_error_and_the_next_run_works(sd3_env, monkeypatch):
    from models.sd3.denoiser import SD3Denoiser
    from tests.models.sd3.test_sd3_fidelity import t2i_prompt

    prompt = t2i_prompt("plexus-demo-sd3-tiny-RANDOM.safetensors", steps=2)
    prompt["7"] = {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}}
    original = SD3Denoiser._forward

    def out_of_memory(self, *args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(SD3Denoiser, "_forward", out_of_memory)
    result = sd3_env.run(prompt)
    assert result.status == "error"
    assert result.error["node_id"] == "5" and result.error["node_type"] == "KSampler"
    assert "Out of memory" in result.error["exception_message"]
    assert sd3_env.services.models.loaded_models() == []  # everything was unloaded
    monkeypatch.setattr(SD3Denoiser, "_forward", original)
    assert sd3_env.run(prompt).status == "success"


def test_vae_decode_falls_back_to_tiles_after_out_of_memory(sd3_env, monkeypatch):
    from models.sd3 import vae_ops as sd3_vae_ops
    from tests.nodes.generation.test_sd3_nodes import CHECKPOINT, call

    _, _, vae = call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    latent = {"samples": torch.randn(1, 16, 12, 12, generator=torch.Generator().manual_seed(0))}
    expected = call(sd3_env, "VAEDecode", samples=latent, vae=vae)[0]
    original = sd3_vae_ops._decode_raw

    def small_only(vae_, latents, device, dtype):
        if latents.shape[-1] > 8:  # "too big for memory": only tiles of at most 64 px fit
            raise torch.OutOfMemoryError("CUDA out of memory")
        return original(vae_, latents, device, dtype)

    monkeypatch.setattr(sd3_vae_ops, "_decode_raw", small_only)
    monkeypatch.setattr(sd3_vae_ops.decode_tiled, "__defaults__", (64, 16))
    events = []
    image = call(sd3_env, "VAEDecode", ctx=sd3_env.context(events), samples=latent, vae=vae)[0]
    assert image.shape == expected.shape and 0 <= image.min() and image.max() <= 1
    assert (image - expected).abs().mean() < 0.15  # tiles of a random VAE: close, not equal
    assert any("decoded in tiles" in e.message for e in events if e.type == "warning")
