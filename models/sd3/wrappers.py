"""The MODEL, CLIP and VAE values that flow between SD3 nodes.

Small frozen wrappers around the diffusers/transformers modules plus their options. Patching (a
new shift, IP-Adapter, ...) returns a cheap clone via :meth:`SD3Model.clone`; the cached modules
are never mutated by a node.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True, eq=False)
class SD3Model:
    """MODEL: the MMDiT plus sampling options and patches.

    ``patches`` is a tuple of model patches (see ``models/sd3/denoiser.py`` for the protocol:
    ``apply(transformer)`` context manager and ``joint_attention_kwargs(step)``), applied in order
    for the duration of a sampling run. ``transformer_options`` is free-form data for patches.
    """
    family: ClassVar[str] = "sd3"  # picks the LoRA key map (models/lora/)
    transformer: Any
    name: str = "sd3"
    shift: float = 3.0
    multiplier: float = 1000.0  # diffusers' num_train_timesteps: timestep = sigma * multiplier
    patches: tuple = ()
    transformer_options: dict = field(default_factory=dict)

    def clone(self, **changes: Any) -> "SD3Model":
        if "transformer_options" not in changes:
            changes["transformer_options"] = dict(self.transformer_options)
        return dataclasses.replace(self, **changes)

    def with_patch(self, patch: Any) -> "SD3Model":
        return self.clone(patches=self.patches + (patch,))

    def denoiser(self, positive: list, negative: list | None, cfg: float, manager: Any, warn: Any = None):
        """The per-step model call guiders use (``models/sampling.py``)."""
        from models.sd3.denoiser import SD3Denoiser

        return SD3Denoiser(self, positive, negative, cfg, manager, warn=warn)

    @property
    def latent_channels(self) -> int:
        return int(self.transformer.config.in_channels)

    @property
    def joint_attention_dim(self) -> int:
        return int(self.transformer.config.joint_attention_dim)

    def torch_modules(self) -> list:
        """The transformer and the modules of patches that have some (an IP-Adapter's)."""
        extra = [m for patch in self.patches for m in getattr(patch, "torch_modules", lambda: [])()]
        return [self.transformer, *extra]


@dataclass(frozen=True, eq=False)
class TextEncoder:
    """One text encoder with its tokenizer."""
    model: Any
    tokenizer: Any
    role: str  # clip_l | clip_g | t5xxl


@dataclass(frozen=True, eq=False)
class SD3Clip:
    """CLIP: SD3's text encoders (CLIP-L, CLIP-G, T5-XXL); any may be missing.

    ``joint_dim`` is the width of the joint embedding (T5's width, 4096 for real SD3); the
    sampler pads to the transformer's width anyway, so a guess here is harmless.
    """
    clip_l: TextEncoder | None = None
    clip_g: TextEncoder | None = None
    t5xxl: TextEncoder | None = None
    name: str = "sd3"
    joint_dim: int | None = None
    t5_max_length: int = 256
    clip_max_length: int = 77
    run_on_cpu: bool = False  # CLIPLoader(device="cpu"): encode on the CPU, keeping accelerator memory free
    patches: tuple = ()  # LoRA patches, each with ``component`` (a role) and ``apply(encoder_module)``
    family: ClassVar[str] = "sd3"

    def clone(self, **changes: Any) -> "SD3Clip":
        return dataclasses.replace(self, **changes)

    def torch_modules(self) -> list:
        return [e.model for e in (self.clip_l, self.clip_g, self.t5xxl) if e is not None]

    def encode_text(self, manager: Any, text: str) -> list:
        """CONDITIONING for one prompt given to every encoder (CLIPTextEncode)."""
        from models.sd3.text import encode_sd3

        embeddings, pooled = encode_sd3(self, manager, text, text, text)
        return [[embeddings, {"pooled_output": pooled}]]


@dataclass(frozen=True, eq=False)
class SD3Vae:
    """VAE: an AutoencoderKL with SD3's latent scaling. ``preview`` caches the latent→RGB map."""
    vae: Any
    name: str = "sd3"
    preview: dict = field(default_factory=dict)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.scaling_factor)

    @property
    def shift_factor(self) -> float:
        return float(self.vae.config.shift_factor or 0.0)

    @property
    def latent_channels(self) -> int:
        return int(self.vae.config.latent_channels)

    @property
    def downscale(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    def torch_modules(self) -> list:
        return [self.vae]
