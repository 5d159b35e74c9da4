"""The MODEL and CLIP values of SD 1.x and SDXL (the VAE is the shared ``SD3Vae`` wrapper: an
AutoencoderKL whose config carries the 4-channel latent's scaling).

They have the shapes of the SD3/FLUX values (``clone``, ``with_patch``, ``latent_channels``,
``torch_modules``, ``denoiser(...)``, ``encode_text``), so loaders, the sampler nodes and the
conditioning nodes drive every family alike; ``sampling`` gives the eps-prediction schedule and
samplers (``models/sampling.py`` asks for it).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from models.sd3.wrappers import TextEncoder
from models.stable_diffusion.schedule import DiscreteSchedule


@dataclass(frozen=True, eq=False)
class UNetModel:
    """MODEL: a diffusers UNet2DConditionModel, its variant (sd15, sdxl_base, sdxl_refiner), its noise
    schedule and patches."""
    family: ClassVar[str] = "stable_diffusion"
    unet: Any
    variant: str
    sampling: DiscreteSchedule
    name: str = "stable_diffusion"
    patches: tuple = ()
    transformer_options: dict = field(default_factory=dict)
    multiplier: float = 1.0  # the shared denoiser's sigma -> timestep factor; the U-Net's comes from the table

    def clone(self, **changes: Any) -> "UNetModel":
        if "transformer_options" not in changes:
            changes["transformer_options"] = dict(self.transformer_options)
        return dataclasses.replace(self, **changes)

    def with_patch(self, patch: Any) -> "UNetModel":
        return self.clone(patches=self.patches + (patch,))

    @property
    def transformer(self) -> Any:  # the name the shared denoiser and managers use for the network
        return self.unet

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    def torch_modules(self) -> list:
        extra = [m for patch in self.patches for m in getattr(patch, "torch_modules", lambda: [])()]
        return [self.unet, *extra]

    def denoiser(self, positive: list, negative: list | None, cfg: float, manager: Any, warn: Any = None):
        from models.stable_diffusion.denoiser import UNetDenoiser

        return UNetDenoiser(self, positive, negative, cfg, manager, warn=warn)


@dataclass(frozen=True, eq=False)
class UNetClip:
    """CLIP of SD 1.x (CLIP-L), SDXL (CLIP-L + OpenCLIP-G) or the SDXL refiner (OpenCLIP-G).

    ``layer`` is CLIPSetLastLayer's value (-1 = the last layer); None keeps the variant's default
    (SD 1.x: the last layer, final layer norm applied; SDXL: the penultimate layer, no norm)."""
    variant: str
    clip_l: TextEncoder | None = None
    clip_g: TextEncoder | None = None
    name: str = "stable_diffusion"
    layer: int | None = None
    run_on_cpu: bool = False
    patches: tuple = ()
    family: ClassVar[str] = "stable_diffusion"

    def clone(self, **changes: Any) -> "UNetClip":
        return dataclasses.replace(self, **changes)

    def torch_modules(self) -> list:
        return [e.model for e in (self.clip_l, self.clip_g) if e is not None]

    def encode_text(self, manager: Any, text: str) -> list:
        """CONDITIONING for one prompt (CLIPTextEncode)."""
        from models.stable_diffusion.text import encode

        return encode(self, manager, text, text)
