"""Tiny random-weight FLUX.1 tools (Fill [dev], Canny [dev]) for smoke tests, written into ``models/``.

RANDOM WEIGHTS: the files prove that the inpainting and structural-control graphs run end to end;
the images are noise. Written to ``diffusion_models/`` in the original (BFL / ComfyUI) key layout,
for UNETLoader:

- ``plexus-demo-flux1-fill-dev-tiny-RANDOM.safetensors``: ``img_in`` takes 384 features (latent,
  masked-image latent and the 8x8-folded mask, 2x2-packed);
- ``plexus-demo-flux1-canny-dev-tiny-RANDOM.safetensors``: ``img_in`` takes 128 features (latent and
  control-image latent; FLUX.1 Depth [dev] has the same shapes).

Both output the 64-feature latent. The text encoders and the VAE are the FLUX demo's
(``models/demo/flux.py``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.demo.flux import TRANSFORMER_CONFIG, write_diffusion_model

DEMO_VERSION = 2
FILL_MODEL = "plexus-demo-flux1-fill-dev-tiny-RANDOM.safetensors"
CANNY_MODEL = "plexus-demo-flux1-canny-dev-tiny-RANDOM.safetensors"
FILL_CONFIG: dict[str, Any] = dict(TRANSFORMER_CONFIG, in_channels=384, out_channels=64, guidance_embeds=True)
CONTROL_CONFIG: dict[str, Any] = dict(TRANSFORMER_CONFIG, in_channels=128, out_channels=64, guidance_embeds=True)
STAMP = ".plexus-demo-flux-tools.json"


def _build(config: dict, seed: int):
    import torch
    from diffusers import FluxTransformer2DModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FluxTransformer2DModel(**config).eval()


def build_tiny_flux_fill(seed: int = 7):
    """The Fill transformer (diffusers' FluxTransformer2DModel), the same weights for the same seed."""
    return _build(FILL_CONFIG, seed)


def build_tiny_flux_canny(seed: int = 8):
    """The Canny (structural control) transformer, the same weights for the same seed."""
    return _build(CONTROL_CONFIG, seed)


def write_demo_flux_tools(models_dir: str | Path, force: bool = False) -> list[Path]:
    """Write the tiny Fill and Canny models (skipped when present unless ``force``); returns the paths written."""
    models_dir = Path(models_dir)
    paths = {models_dir / "diffusion_models" / FILL_MODEL: build_tiny_flux_fill,
             models_dir / "diffusion_models" / CANNY_MODEL: build_tiny_flux_canny}
    stamp = models_dir / STAMP
    try:
        present = json.loads(stamp.read_text()).get("version") == DEMO_VERSION and all(p.exists() for p in paths)
    except (OSError, ValueError):
        present = False
    if present and not force:
        return []
    written = []
    for path, build in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_diffusion_model({"transformer": build()}, path))
    stamp.write_text(json.dumps({"version": DEMO_VERSION}))
    return written
