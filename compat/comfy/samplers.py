"""ComfyUI's ``comfy.samplers``, only as far as packs read it in ``INPUT_TYPES``: the sampler and
scheduler names, taken from Plexus's built-in ``KSampler`` node when it is registered."""
from __future__ import annotations

import _plexus_binding as binding

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
    """``comfy.samplers.KSampler.SAMPLERS`` / ``.SCHEDULERS`` (names only; sampling is not provided)."""




def __getattr__(name: str):
    if name == "SAMPLER_NAMES":
        return KSampler.SAMPLERS
    if name == "SCHEDULER_NAMES":
        return KSampler.SCHEDULERS
    raise AttributeError(f"module 'comfy.samplers' has no attribute {name!r}")
