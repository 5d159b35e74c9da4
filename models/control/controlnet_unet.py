"""ControlNets for SD 1.x / SDXL U-Nets (diffusers' ``ControlNetModel``): loading and the per-step hint.

Loaded from a diffusers folder (``config.json`` with ``ControlNetModel``) or a single safetensors
file in diffusers' names (config from its metadata, or read from its shapes) or in the original LDM
names (``control_v11p_sd15_*``, ``control_model.*``; ``models/stable_diffusion/controlnet_layout.py``
tells layouts and families apart and converts). The hint is an image in pixel space (0..1), resized
to the latent's pixel size; at each step the ControlNet sees the same scaled input, timestep and text embeddings as the
U-Net and its block residuals are added to the U-Net's (``StableDiffusionControlNetPipeline``).
"""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

UNET_FAMILY = "stable_diffusion"


@dataclass
class UNetControlNet:
    """A loaded U-Net ControlNet (the ``CONTROL_NET`` socket value)."""
    module: Any  # diffusers ControlNetModel
    name: str
    family: str = UNET_FAMILY

    @property
    def config(self) -> Any:
        return self.module.config

    def torch_modules(self) -> list:
        return [self.module]


def is_unet_controlnet(path: Path) -> bool:
    from models.stable_diffusion.controlnet_layout import is_diffusers_layout, is_original_layout

    if path.is_dir():
        config = path / "config.json"
        return config.is_file() and json.loads(config.read_text()).get("_class_name") == "ControlNetModel"
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            names = list(handle.keys())
    except Exception:  # noqa: BLE001 - not a readable safetensors file: the SD3 loader explains
        return False
    return is_original_layout(names) or is_diffusers_layout(names)


def load_unet_controlnet(path: Path, dtype: torch.dtype = torch.float32) -> UNetControlNet:
    """A diffusers folder, or a single file in diffusers' or the original (LDM) names; fp16/fp8 weights are
    cast to ``dtype``."""
    from diffusers import ControlNetModel

    from models.control.controlnet_sd3 import ControlNetFormatError
    from models.pickle_guard import from_pretrained_safely
    from models.sd3.configs import embedded_configs, shapes_of
    from models.sd3.files import ModelFileError, load_tensors, read_header
    from models.sd3.loading import empty_model, fill_model
    from models.stable_diffusion import controlnet_layout as layout
    from models.stable_diffusion.fast_layers import speed_up

    if path.is_dir():
        module = from_pretrained_safely(ControlNetModel, path, torch_dtype=dtype)
        return UNetControlNet(speed_up(module.eval().requires_grad_(False)), path.name)
    try:
        header, metadata = read_header(path)
        layout.refuse_unsupported(header)
        # a whole training checkpoint (control_model.* beside the SD model): read only the ControlNet
        wrapped = any(k.startswith(layout.LDM_PREFIX) for k in header)
        state = load_tensors(path, (layout.LDM_PREFIX,) if wrapped else None)
        if layout.is_original_layout(header):
            state = layout.original_to_diffusers(state)
        if "config" in metadata:  # diffusers-exported files state their config
            config = {k: v for k, v in json.loads(metadata["config"]).items() if not k.startswith("_")}
        else:
            _, config = layout.infer_config(shapes_of(state), embedded_configs(metadata).get("controlnet"))
    except (layout.ControlNetLayoutError, ModelFileError, KeyError, ValueError, IndexError) as error:
        raise ControlNetFormatError(f"{path.name}: not a readable SD 1.x / SDXL ControlNet ({error})") from error
    module = empty_model(lambda: ControlNetModel.from_config(config))
    return UNetControlNet(speed_up(fill_model(module, state, path, "ControlNet", dtype)), path.name)


@dataclass(eq=False)
class UNetControlHint:
    """One applied U-Net ControlNet: the hint image and how strongly / when it acts."""
    net: UNetControlNet
    image: torch.Tensor  # IMAGE [B, H, W, C], 0..1
    strength: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    prepared: dict = field(default_factory=dict, repr=False)

    def torch_modules(self) -> list:
        return [self.net.module]

    def prepare(self, unet: Any, latent_shape: tuple, device, dtype, warn=None, manager=None) -> None:
        if int(self.net.config.cross_attention_dim) != int(unet.config.cross_attention_dim):
            raise ValueError(f"ControlNet '{self.net.name}' was made for another model (cross-attention width "
                             f"{self.net.config.cross_attention_dim}, this U-Net has "
                             f"{unet.config.cross_attention_dim})")
        height, width = int(latent_shape[-2]) * 8, int(latent_shape[-1]) * 8
        key = (height, width, str(device), dtype)
        if key not in self.prepared:
            image = self.image[..., :3].permute(0, 3, 1, 2).float()
            if image.shape[-2:] != (height, width):
                if warn is not None:
                    warn(f"ControlNet hint {tuple(image.shape[-2:])} resized to the latent's {height}x{width}")
                image = torch.nn.functional.interpolate(image, size=(height, width), mode="nearest-exact")
            self.prepared[key] = image.to(device, dtype)

    def residuals(self, step: Any) -> list | None:
        """Down-block residuals then the mid-block one, for the rows of ``step`` (already scaled input)."""
        if self.strength == 0:
            return None
        x = step.x
        self.prepare(step.model.unet, tuple(x.shape), x.device, x.dtype, None, None)
        cond = self.prepared[(int(x.shape[-2]) * 8, int(x.shape[-1]) * 8, str(x.device), x.dtype)]
        if cond.shape[0] != x.shape[0]:
            cond = cond.repeat(-(-x.shape[0] // cond.shape[0]), 1, 1, 1)[:x.shape[0]]
        manager = step.manager
        placed = manager.on_device(self.net.module) if manager is not None else contextlib.nullcontext()
        with placed, torch.inference_mode():
            down, mid = self.net.module(x, step.timestep, encoder_hidden_states=step.encoder_hidden_states,
                                        controlnet_cond=cond, conditioning_scale=self.strength,
                                        added_cond_kwargs=getattr(step, "added_cond_kwargs", None),
                                        return_dict=False)
        return [*down, mid]
