"""The MODEL and CLIP values of the FLUX family (the VAE is the shared ``SD3Vae`` wrapper: the
same AutoencoderKL with FLUX's latent scaling in its config).

They have the shapes of their SD3 counterparts (``clone``, ``with_patch``, ``latent_channels``,
``torch_modules``, ``shift``, ``denoiser(...)`` and ``encode_text``), so loaders, KSampler and the
conditioning nodes drive either family without asking which one it is.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from models.sd3.wrappers import TextEncoder

DEFAULT_GUIDANCE = 3.5  # what a guidance-distilled model gets when no FluxGuidance is applied


def flux_mu(width: int, height: int, base_shift: float = 0.5, max_shift: float = 1.15,
            base_seq_len: int = 256, max_seq_len: int = 4096) -> float:
    """The resolution-dependent time shift (log scale) of FLUX: linear in the number of 2x2 latent
    patches, ``base_shift`` at 256 patches and ``max_shift`` at 4096 (diffusers' calculate_shift)."""
    slope = (max_shift - base_shift) / (max_seq_len - base_seq_len)
    patches = width * height / (16 * 16)  # 8x VAE downscale, then 2x2 patches
    return patches * slope + (base_shift - slope * base_seq_len)


@dataclass(frozen=True, eq=False)
class FluxModel:
    """MODEL: a FluxTransformer2DModel plus sampling options and patches.

    ``shift`` is the sigma shift ``exp(mu)`` (``sigma = shift*t / (1 + (shift-1)*t)``), the form the
    shared samplers use; schnell has 1.0 (no shift), dev ``exp(1.15)`` until ModelSamplingFlux sets
    the resolution-dependent value.
    """
    family: ClassVar[str] = "flux"  # picks the LoRA key map (models/lora/)
    transformer: Any
    name: str = "flux"
    shift: float = 1.0
    multiplier: float = 1000.0  # diffusers' num_train_timesteps: timestep = sigma * multiplier
    patches: tuple = ()
    transformer_options: dict = field(default_factory=dict)

    def clone(self, **changes: Any) -> "FluxModel":
        if "transformer_options" not in changes:
            changes["transformer_options"] = dict(self.transformer_options)
        return dataclasses.replace(self, **changes)

    def with_patch(self, patch: Any) -> "FluxModel":
        return self.clone(patches=self.patches + (patch,))

    def with_mu(self, mu: float) -> "FluxModel":
        return self.clone(shift=math.exp(mu))

    @property
    def latent_channels(self) -> int:
        config = self.transformer.config  # 2x2 patches of the 16-channel latent
        return int(config.out_channels or config.in_channels) // 4

    @property
    def concat_channels(self) -> int:
        """Channels the model takes besides the latent: 80 for Fill (masked-image latent + 64 mask
        channels), 16 for Canny / Depth (control latent), 0 for text-to-image models
        (``models/flux/concat.py``)."""
        return int(self.transformer.config.in_channels) // 4 - self.latent_channels

    @property
    def guidance_embeds(self) -> bool:
        return bool(self.transformer.config.guidance_embeds)

    def torch_modules(self) -> list:
        extra = [m for patch in self.patches for m in getattr(patch, "torch_modules", lambda: [])()]
        return [self.transformer, *extra]

    def denoiser(self, positive: list, negative: list | None, cfg: float, manager: Any,
                 warn: Callable[[str], None] | None = None):
        from models.flux.denoiser import FluxDenoiser

        return FluxDenoiser(self, positive, negative, cfg, manager, warn=warn)


@dataclass(frozen=True, eq=False)
class FluxClip:
    """CLIP: FLUX's text encoders. CLIP-L gives the pooled vector, T5-XXL the token embeddings."""
    clip_l: TextEncoder | None = None
    t5xxl: TextEncoder | None = None
    name: str = "flux"
    t5_max_length: int = 256
    clip_max_length: int = 77
    run_on_cpu: bool = False  # DualCLIPLoader(device="cpu"): encode on the CPU
    patches: tuple = ()  # LoRA patches, each with ``component`` (a role) and ``apply(encoder_module)``
    family: ClassVar[str] = "flux"

    def clone(self, **changes: Any) -> "FluxClip":
        return dataclasses.replace(self, **changes)

    def torch_modules(self) -> list:
        return [e.model for e in (self.clip_l, self.t5xxl) if e is not None]

    def encode_text(self, manager: Any, text: str) -> list:
        """CONDITIONING for one prompt given to both encoders (CLIPTextEncode)."""
        from models.flux.text import encode_flux

        embeddings, pooled = encode_flux(self, manager, text, text)
        return [[embeddings, {"pooled_output": pooled}]]
