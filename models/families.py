"""Which diffusion-model family a file or folder belongs to, and that family's loader.

A family module (``models.sd3.loading``, ``models.flux.loading``) provides
``load_checkpoint(path, dtype, tokenizer_dirs) -> (MODEL, CLIP | None, VAE | None)`` and
``load_diffusion_model(path, dtype) -> MODEL``. The family is read from the tensor names of a
safetensors header or from a diffusers folder's class names; nothing is loaded to decide.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType

FAMILY_LOADERS = {"sd3": "models.sd3.loading", "flux": "models.flux.loading",
                  "stable_diffusion": "models.stable_diffusion.loading"}
# VAE files named so (or with "flux" in the name) hold FLUX's autoencoder: the same shapes as
# SD3's, another latent scaling.
FLUX_VAE_FILES = ("ae.safetensors", "ae.sft")


def _folder_family(folder: Path) -> str:
    for config_name in ("model_index.json", "transformer/config.json", "config.json"):
        config_file = folder / config_name
        if config_file.is_file():
            class_name = str(json.loads(config_file.read_text()).get("_class_name", ""))
            if class_name.startswith("Flux"):
                return "flux"
            if class_name == "UNet2DConditionModel" or (class_name.startswith("StableDiffusion")
                                                         and not class_name.startswith("StableDiffusion3")):
                return "stable_diffusion"
            return "sd3"
    return "sd3"


def family_of(path: Path) -> str:
    """"flux", "stable_diffusion" (SD 1.x / SDXL U-Nets) or "sd3" (the default: its loader gives the
    clearest errors for unknown files)."""
    from models.flux.layout import is_flux_transformer
    from models.sd3.files import read_header, refuse_unsafe
    from models.stable_diffusion.layout import is_unet

    refuse_unsafe(path)
    if path.is_dir():
        return _folder_family(path)
    header, _ = read_header(path)
    if is_unet(header):
        return "stable_diffusion"
    return "flux" if is_flux_transformer(header) else "sd3"


def loader_for(path: Path) -> ModuleType:
    return importlib.import_module(FAMILY_LOADERS[family_of(path)])


def load_checkpoint(path: Path, dtype, tokenizer_dirs=()):
    return loader_for(path).load_checkpoint(path, dtype, tokenizer_dirs)


def load_diffusion_model(path: Path, dtype):
    return loader_for(path).load_diffusion_model(path, dtype)


def load_vae(path: Path, dtype):
    """A VAE; FLUX's latent scaling when the file's name says FLUX (``ae.safetensors``, ``*flux*``)."""
    from models.flux.configs import vae_hints
    from models.sd3.loading import load_vae as load_autoencoder

    lowered = path.name.lower()
    is_flux = "flux" in lowered or lowered in FLUX_VAE_FILES
    return load_autoencoder(path, dtype, vae_hints() if is_flux else None)
