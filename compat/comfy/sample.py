"""ComfyUI's ``comfy.sample``: noise, and sampling through Plexus's samplers.

``prepare_noise(latent, seed)`` is the seeded noise Plexus's KSampler draws (CPU float32 from
``torch.Generator().manual_seed(seed)``). ``sample(model, noise, steps, cfg, sampler_name,
scheduler, positive, negative, latent_image, ...)`` samples as Plexus's KSampler does, calling
``callback`` at each step: the noise must be what ``prepare_noise`` gave (its seed is used), all
zeros (no noise added), or come with ``seed=``. ``sample_custom`` runs ``SamplerCustom``.
"""
from __future__ import annotations

import weakref
from typing import Any

import _comfy_nodes
import _plexus_binding as binding
from _plexus_binding import current_node
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


def _step_reporter(callback: Any) -> Any:
    """Plexus's per-step hook -> ComfyUI's ``callback(step, x0, x, total_steps)`` (step from 0; x is
    the denoised estimate too: Plexus's sampler does not hand out the noisy latent). Without a
    callback, the calling node reports the progress. Every step checks for an interrupt."""
    ctx = current_node.get()

    def report(step: int, total: int, x0: Any) -> None:
        if callback is not None:
            callback(step - 1, x0, x0, total)
        elif ctx is not None:
            ctx.progress(step, total)
        if ctx is not None:
            ctx.check_interrupt()

    return report


def sample(model: Any, noise: Any, steps: int, cfg: float, sampler_name: str, scheduler: str, positive: Any,
           negative: Any, latent_image: Any, denoise: float = 1.0, disable_noise: bool = False,
           start_step: int | None = None, last_step: int | None = None, force_full_denoise: bool = False,
           noise_mask: Any = None, sigmas: Any = None, callback: Any = None, disable_pbar: bool = False,
           seed: int | None = None) -> Any:
    """Plexus's KSampler sampling (``models.sampling.run_ksampler``); returns the samples tensor."""
    from models.sampling import run_ksampler

    if sigmas is not None:
        raise NotAvailableInPlexus("comfy.sample.sample(sigmas=...)", "use comfy.sample.sample_custom")
    noise_seed, add_noise = _seed_for(noise, seed)
    latent = {"samples": latent_image}
    if noise_mask is not None:
        latent["noise_mask"] = noise_mask
    ctx = current_node.get()
    result = run_ksampler(model, binding.services().models, positive, negative, latent, seed=noise_seed, steps=steps,
                          cfg=cfg, sampler_name=sampler_name, scheduler=scheduler, denoise=denoise,
                          add_noise=add_noise and not disable_noise, start_step=start_step, end_step=last_step,
                          force_full_denoise=force_full_denoise or last_step is None,
                          progress=_step_reporter(callback), warn=ctx.warn if ctx is not None else None)
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
