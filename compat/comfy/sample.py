"""ComfyUI's ``comfy.sample``: noise, and sampling through Plexus's samplers.

``prepare_noise(latent, seed)`` is the seeded noise Plexus's KSampler draws (CPU float32 from
``torch.Generator().manual_seed(seed)``). ``sample(model, noise, steps, cfg, sampler_name,
scheduler, positive, negative, latent_image, ...)`` runs Plexus's ``KSamplerAdvanced`` on the
MODEL: the noise must be what ``prepare_noise`` gave (its seed is used) or all zeros (no noise
added). ``sample_custom`` runs ``SamplerCustom`` (when that node is registered).
"""
from __future__ import annotations

import weakref
from typing import Any

import _comfy_nodes
from _unavailable import NotAvailableInPlexus

# Noise tensors made by prepare_noise -> their seed (by identity; tensors compare elementwise).
_noise_seeds: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()
_seed_of_id: dict[int, int] = {}


def prepare_noise(latent_image: Any, seed: int, noise_inds: Any = None) -> Any:
    from models.sd3.sampling import seeded_noise

    noise = seeded_noise(latent_image.shape, seed)
    if noise_inds is not None:
        raise NotAvailableInPlexus("comfy.sample.prepare_noise(noise_inds=...)", "per-index noise is not drawn")
    _noise_seeds[id(noise)] = noise
    _seed_of_id[id(noise)] = int(seed)
    for key in [k for k in _seed_of_id if k not in _noise_seeds]:
        del _seed_of_id[key]
    return noise


def fix_empty_latent_channels(model: Any, latent_image: Any) -> Any:
    """An all-zero latent with the wrong channel count is remade with the model's channels."""
    import torch

    channels = getattr(model, "latent_channels", None)
    if channels and latent_image.shape[1] != channels and torch.count_nonzero(latent_image) == 0:
        shape = list(latent_image.shape)
        shape[1] = channels
        return torch.zeros(shape, dtype=latent_image.dtype, device=latent_image.device)
    return latent_image


def _seed_for(noise: Any, seed: int | None) -> tuple[int, bool]:
    """(seed, add_noise) for a noise tensor."""
    import torch

    if _noise_seeds.get(id(noise)) is noise:
        return _seed_of_id[id(noise)], True
    if not torch.count_nonzero(noise):
        return int(seed or 0), False
    if seed is not None:
        return int(seed), True
    raise NotAvailableInPlexus("comfy.sample.sample with caller-made noise",
                               "pass noise from comfy.sample.prepare_noise, or seed=")


def sample(model: Any, noise: Any, steps: int, cfg: float, sampler_name: str, scheduler: str, positive: Any,
           negative: Any, latent_image: Any, denoise: float = 1.0, disable_noise: bool = False,
           start_step: int | None = None, last_step: int | None = None, force_full_denoise: bool = False,
           noise_mask: Any = None, sigmas: Any = None, callback: Any = None, disable_pbar: bool = False,
           seed: int | None = None) -> Any:
    if sigmas is not None:
        raise NotAvailableInPlexus("comfy.sample.sample(sigmas=...)", "use comfy.sample.sample_custom")
    noise_seed, add_noise = _seed_for(noise, seed)
    latent = {"samples": latent_image}
    if noise_mask is not None:
        latent["noise_mask"] = noise_mask
    if denoise < 1.0 and start_step is None and last_step is None:
        (result,) = _comfy_nodes.run_node("KSampler", model=model, seed=noise_seed, steps=steps, cfg=cfg,
                                          sampler_name=sampler_name, scheduler=scheduler, positive=positive,
                                          negative=negative, latent_image=latent, denoise=denoise)
        return result["samples"]
    (result,) = _comfy_nodes.run_node(
        "KSamplerAdvanced", model=model, add_noise="enable" if add_noise and not disable_noise else "disable",
        noise_seed=noise_seed, steps=steps, cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
        positive=positive, negative=negative, latent_image=latent,
        start_at_step=start_step or 0, end_at_step=10000 if last_step is None else last_step,
        return_with_leftover_noise="disable" if force_full_denoise or last_step is None else "enable")
    return result["samples"]


def sample_custom(model: Any, noise: Any, cfg: float, sampler: Any, sigmas: Any, positive: Any, negative: Any,
                  latent_image: Any, noise_mask: Any = None, callback: Any = None, disable_pbar: bool = False,
                  seed: int | None = None) -> Any:
    noise_seed, add_noise = _seed_for(noise, seed)
    latent = {"samples": latent_image}
    if noise_mask is not None:
        latent["noise_mask"] = noise_mask
    outputs = _comfy_nodes.run_node("SamplerCustom", model=model, add_noise=add_noise, noise_seed=noise_seed,
                                    cfg=cfg, positive=positive, negative=negative, sampler=sampler,
                                    sigmas=sigmas, latent_image=latent)
    return outputs[0]["samples"]
