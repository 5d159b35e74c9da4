"""A tiny random-weight FLUX.1 Fill [dev] for smoke tests, written into ``models/``.

RANDOM WEIGHTS: the file proves that the inpainting graphs run end to end; the images are noise.
``diffusion_models/plexus-demo-flux1-fill-dev-tiny-RANDOM.safetensors`` holds the transformer in the
original (BFL / ComfyUI) key layout, for UNETLoader. Its ``img_in`` takes 384 features (latent,
masked-image latent and the 8x8-folded mask, 2x2-packed) and its output is the 64-feature latent.
The text encoders and the VAE are the FLUX demo's (``models/demo/flux.py``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.demo.flux import TRANSFORMER_CONFIG, write_diffusion_model

DEMO_VERSION = 1
FILL_MODEL = "plexus-demo-flux1-fill-dev-tiny-RANDOM.safetensors"
FILL_CONFIG: dict[str, Any] = dict(TRANSFORMER_CONFIG, in_channels=384, out_channels=64, guidance_embeds=True)
STAMP = ".plexus-demo-flux-fill.json"


def build_tiny_flux_fill(seed: int = 7):
    """The Fill transformer (diffusers' FluxTransformer2DModel), the same weights for the same seed."""
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FluxTransformer2DModel(**FILL_CONFIG).eval()


def write_demo_flux_fill(models_dir: str | Path, force: bool = False) -> list[Path]:
    """Write the tiny Fill model (skipped when present unless ``force``); returns the paths written."""
    models_dir = Path(models_dir)
    path = models_dir / "diffusion_models" / FILL_MODEL
    stamp = models_dir / STAMP
    try:
        present = json.loads(stamp.read_text()).get("version") == DEMO_VERSION and path.exists()
    except (OSError, ValueError):
        present = False
    if present and not force:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [write_diffusion_model({"transformer": build_tiny_flux_fill()}, path)]
    stamp.write_text(json.dumps({"version": DEMO_VERSION}))
    return written
