"""ComfyUI's ``comfy.samplers``: the sampler and scheduler names (Plexus's built-in ``KSampler``
choices), and ``sampler_object``/``ksampler`` through Plexus's ``KSamplerSelect`` node when it is
registered. ComfyUI's sampler classes (``KSampler`` instances, ``CFGGuider``...) raise."""
from __future__ import annotations

from typing import Any

import _comfy_nodes
import _plexus_binding as binding
from _unavailable import NotAvailableInPlexus, placeholder_getattr

_DEFAULT_SAMPLERS = ["euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "lcm", "ddim"]
_DEFAULT_SCHEDULERS = ["normal", "karras", "exponential", "sgm_uniform", "simple", "beta"]


def _ksampler_choices(input_name: str, fallback: list[str]) -> list[str]:
    try:
        schema = binding.host().registry.get("KSampler")
        spec = schema.inputs().get(input_name) if schema is not None else None
        if spec is not None and spec.is_combo:
            return spec.current_choices(binding.services())
    except Exception:  # noqa: BLE001 - not bound, or no built-in KSampler
        pass
    return list(fallback)


class _Names(type):
    @property
    def SAMPLERS(cls) -> list[str]:
        return _ksampler_choices("sampler_name", _DEFAULT_SAMPLERS)

    @property
    def SCHEDULERS(cls) -> list[str]:
        return _ksampler_choices("scheduler", _DEFAULT_SCHEDULERS)


class KSampler(metaclass=_Names):
    """``comfy.samplers.KSampler.SAMPLERS`` / ``.SCHEDULERS``; instances (ComfyUI's sampler
    object) are not available: use ``comfy.sample.sample``."""

    def __init__(self, *_args: Any, **_kwargs: Any):
        raise NotAvailableInPlexus("comfy.samplers.KSampler()", "use comfy.sample.sample")


def sampler_object(name: str) -> Any:
    """The SAMPLER value of ``name`` (Plexus's ``KSamplerSelect``)."""
    return _comfy_nodes.run_node("KSamplerSelect", sampler_name=name)[0]


def ksampler(sampler_name: str, extra_options: dict | None = None, inpaint_options: dict | None = None) -> Any:
    if extra_options or inpaint_options:
        raise NotAvailableInPlexus("comfy.samplers.ksampler(extra_options=...)")
    return sampler_object(sampler_name)


_placeholder = placeholder_getattr(__name__, "ComfyUI's sampler internals")


def __getattr__(name: str):
    if name in ("SAMPLER_NAMES", "KSAMPLER_NAMES"):
        return KSampler.SAMPLERS
    if name == "SCHEDULER_NAMES":
        return KSampler.SCHEDULERS
    return _placeholder(name)
