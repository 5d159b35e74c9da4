"""ControlNet nodes for SD3, SD 1.x and SDXL: load a ControlNet, attach a hint to conditioning.

The hint rides in each conditioning entry's extras under ``"control"`` (a tuple: each apply adds
its hint after those already there, so several ControlNets stack and their residuals add up). The
sampler encodes the hint at the latent's size before the first step and runs the ControlNet inside
its per-step model call, only while sampling is within ``[start_percent, end_percent]``. Like
ComfyUI (and ``ConditioningSetTimestepRange``), the range is measured in sigma; diffusers'
``control_guidance_start/end`` counts step indices instead, so partial ranges differ from it.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Out, node
from models.folders import ModelListing

CATEGORY = "conditioning/controlnet"


@node("ControlNetLoader", category="loaders",
      inputs=[Combo("control_net_name", ModelListing("controlnet"))],
      outputs=[Out("CONTROL_NET")],
      description="Load a ControlNet for SD3, SD 1.x or SDXL (a diffusers folder or a single .safetensors "
                  "file, in diffusers' or the original layout).")
def controlnet_loader(ctx, control_net_name: str):
    from models.managed import load_managed

    return (load_managed(ctx.services, "controlnet", control_net_name, _load_any_controlnet),)


def _load_any_controlnet(path, dtype, _manager):
    """SD 1.x / SDXL ControlNets (ControlNetModel) or SD3 ones, told apart by their files."""
    from pathlib import Path

    from models.control.controlnet_sd3 import load_sd3_controlnet
    from models.control.controlnet_unet import is_unet_controlnet, load_unet_controlnet

    path = Path(path)
    if is_unet_controlnet(path):
        return load_unet_controlnet(path, dtype)
    return load_sd3_controlnet(path, dtype)


def apply_control(positive: list, negative: list, control_net, image, strength: float, start_percent: float,
                  end_percent: float, vae) -> tuple[list, list]:
    """New conditioning lists whose entries carry the hint after any controls they had. One hint
    object is shared by every entry, so the sampler can run it once for the whole CFG batch."""
    from models.control.hints import ControlHint
    from models.control.controlnet_sd3 import SD3ControlNet
    from models.control.controlnet_unet import UNetControlHint, UNetControlNet

    if not 0.0 <= start_percent <= end_percent <= 1.0:
        raise ValueError(f"need 0 <= start_percent <= end_percent <= 1, got {start_percent}..{end_percent}")
    if isinstance(control_net, UNetControlNet):  # SD 1.x / SDXL: the hint stays in pixel space
        hint = UNetControlHint(net=control_net, image=image, strength=float(strength),
                               start_percent=float(start_percent), end_percent=float(end_percent))
        return _attach(positive, hint), _attach(negative, hint)
    if not isinstance(control_net, SD3ControlNet):
        raise TypeError(f"control_net must come from ControlNetLoader, got {type(control_net).__name__}")
    if vae is None:
        raise ValueError("SD3 ControlNets read the hint as a latent: connect the VAE input "
                         "(the same VAE as the checkpoint)")
    _check_vae(control_net, vae)
    hint = ControlHint(net=control_net, image=image, vae=vae, strength=float(strength),
                       start_percent=float(start_percent), end_percent=float(end_percent))

    return _attach(positive, hint), _attach(negative, hint)


def _attach(conditioning: list, hint) -> list:
    from models.control.hints import CONTROL_KEY

    out = []
    for embeddings, extras in conditioning:
        previous = extras.get(CONTROL_KEY) or ()
        previous = tuple(previous) if isinstance(previous, (list, tuple)) else (previous,)
        out.append([embeddings, {**extras, CONTROL_KEY: (*previous, hint)}])
    return out


def _check_vae(control_net, vae) -> None:
    """An SD3 ControlNet needs the SD3 VAE's latents (16 channels): refuse others up front."""
    from models.control.hints import vae_module

    channels = int(vae_module(vae).config.latent_channels)
    expected = int(control_net.config.in_channels)
    if channels != expected:
        raise ValueError(f"ControlNet '{control_net.name}' reads {expected}-channel SD3 latents but this VAE makes "
                         f"{channels}-channel latents (a VAE of another model family)")


_APPLY_INPUTS = [
    In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("control_net", "CONTROL_NET"),
    In("image", "IMAGE"),
    Float("strength", 1.0, min=0.0, max=10.0, step=0.01),
    Float("start_percent", 0.0, min=0.0, max=1.0, step=0.001),
    Float("end_percent", 1.0, min=0.0, max=1.0, step=0.001),
]


@node("ControlNetApplyAdvanced", category=CATEGORY,
      inputs=[*_APPLY_INPUTS, In("vae", "VAE", optional=True)],
      outputs=[Out("CONDITIONING", "positive"), Out("CONDITIONING", "negative")],
      description="Attach a ControlNet hint to both conditionings; it acts only within "
                  "[start_percent, end_percent] of the sampling schedule. SD3 needs the VAE.")
def controlnet_apply_advanced(positive, negative, control_net, image, strength: float, start_percent: float,
                              end_percent: float, vae=None):
    return apply_control(positive, negative, control_net, image, strength, start_percent, end_percent, vae)


@node("ControlNetApplySD3", category=CATEGORY, display_name="Apply ControlNet with VAE",
      inputs=[In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("control_net", "CONTROL_NET"),
              In("vae", "VAE"), In("image", "IMAGE"), *_APPLY_INPUTS[4:]],
      outputs=[Out("CONDITIONING", "positive"), Out("CONDITIONING", "negative")],
      description="ControlNetApplyAdvanced with the VAE as a required input.")
def controlnet_apply_sd3(positive, negative, control_net, vae, image, strength: float, start_percent: float,
                         end_percent: float):
    return apply_control(positive, negative, control_net, image, strength, start_percent, end_percent, vae)
