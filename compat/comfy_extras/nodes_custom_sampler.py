"""ComfyUI's ``comfy_extras.nodes_custom_sampler``: each node class is Plexus's node of that name
(``SamplerCustom``, ``KSamplerSelect``, ``BasicScheduler``...), looked up when it is used; a name
no registered node backs raises :class:`NotAvailableInPlexus` when used."""
from __future__ import annotations

from typing import Any

import _comfy_nodes

NODE_NAMES = (
    "SamplerCustom", "SamplerCustomAdvanced", "KSamplerSelect", "BasicScheduler", "KarrasScheduler",
    "ExponentialScheduler", "PolyexponentialScheduler", "BetaSamplingScheduler", "SDTurboScheduler",
    "VPScheduler", "LaplaceScheduler", "SplitSigmas", "SplitSigmasDenoise", "FlipSigmas", "SetFirstSigma",
    "ExtendIntermediateSigmas", "SamplingPercentToSigma", "RandomNoise", "DisableNoise", "AddNoise",
    "CFGGuider", "BasicGuider", "DualCFGGuider", "SamplerEulerAncestral", "SamplerEulerAncestralCFGPP",
    "SamplerLMS", "SamplerDPMPP_3M_SDE", "SamplerDPMPP_2M_SDE", "SamplerDPMPP_SDE", "SamplerDPMPP_2S_Ancestral",
    "SamplerDPMAdaptative", "SamplerER_SDE", "SamplerSASolver",
)
# ComfyUI's helper classes behind those nodes (noise and guider objects).
HELPER_NAMES = ("Noise_EmptyNoise", "Noise_RandomNoise", "Guider_Basic", "Guider_DualCFG")


def __getattr__(name: str) -> Any:
    if name in NODE_NAMES:
        return _comfy_nodes.deferred_node_class(name)
    if name in HELPER_NAMES:
        from _unavailable import unavailable

        return unavailable(f"{__name__}.{name}", "ComfyUI's noise and guider classes")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
