"""ComfyUI's ``comfy.latent_formats``: each family's latent scaling, as plain data and two
functions. ``process_in`` maps VAE latents to the diffusion model's space, ``process_out`` back.
No RGB preview factors are shipped (previews fall back to the channel mean)."""
from __future__ import annotations

from typing import Any


class LatentFormat:
    scale_factor = 1.0
    shift_factor = 0.0
    latent_channels = 4
    latent_dimensions = 2
    latent_rgb_factors: Any = None
    latent_rgb_factors_bias: Any = None
    taesd_decoder_name: str | None = None

    def process_in(self, latent: Any) -> Any:
        return (latent - self.shift_factor) * self.scale_factor

    def process_out(self, latent: Any) -> Any:
        return latent / self.scale_factor + self.shift_factor


class SD15(LatentFormat):
    scale_factor = 0.18215
    taesd_decoder_name = "taesd_decoder"


class SDXL(LatentFormat):
    scale_factor = 0.13025
    taesd_decoder_name = "taesdxl_decoder"


class SDXL_Playground_2_5(SDXL):
    scale_factor = 0.5


class SD3(LatentFormat):
    scale_factor = 1.5305
    shift_factor = 0.0609
    latent_channels = 16
    taesd_decoder_name = "taesd3_decoder"


class Flux(SD3):
    scale_factor = 0.3611
    shift_factor = 0.1159
    taesd_decoder_name = "taef1_decoder"


class SC_Prior(LatentFormat):
    latent_channels = 16


class StableAudio1(LatentFormat):
    latent_channels = 64
    latent_dimensions = 1
