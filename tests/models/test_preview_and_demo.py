"""Latent previews (the fitted latent->RGB map) and the demo writer."""
from __future__ import annotations

import argparse
import json
from types import SimpleNamespace

import torch

from models.latent_preview import fit_projection, latent_to_rgb
from models.manager import ModelManager
from models.sd3.wrappers import SD3Vae


class LinearToyVAE(torch.nn.Module):
    """An 'encoder' whose latents are a fixed linear mix of the 8x8 mean colours."""

    def __init__(self):
        super().__init__()
        self.mix = torch.nn.Conv2d(3, 4, 1)
        torch.nn.init.normal_(self.mix.weight, generator=torch.Generator().manual_seed(0))
        self.config = SimpleNamespace(scaling_factor=1.0, shift_factor=0.0, latent_channels=4,
                                      block_out_channels=[1, 1, 1, 1], out_channels=3)

    def encode(self, x):
        latents = self.mix(torch.nn.functional.avg_pool2d((x + 1) / 2, 8))
        return SimpleNamespace(latent_dist=SimpleNamespace(mode=lambda: latents))


def test_fitted_projection_recovers_colours_and_is_cached():
    vae = SD3Vae(LinearToyVAE())
    weight, bias = fit_projection(vae, ModelManager(force_cpu=True))
    assert fit_projection(vae, ModelManager(force_cpu=True))[0] is weight  # cached on the VAE
    image = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    latents = vae.vae.encode(image * 2 - 1).latent_dist.mode()
    rgb = latent_to_rgb(latents[0].detach(), weight, bias)
    target = torch.nn.functional.avg_pool2d(image, 8)[0].permute(1, 2, 0)
    assert (rgb - target).abs().max() < 1e-3


def test_write_demo_models_is_idempotent_and_labelled(demo_models_dir):
    from models.demo.command import write_demo_models
    from models.demo.sd3 import DEMO_LABEL, demo_paths

    paths = demo_paths(demo_models_dir)
    assert all(p.exists() and "RANDOM" in p.name for p in paths.values())
    from models.sd3.files import read_header

    assert read_header(paths["checkpoint"])[1]["plexus.note"] == DEMO_LABEL
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    assert [p for p in write_demo_models(demo_models_dir) if "sd3" in p.name] == []
    assert before == {p: p.stat().st_mtime_ns for p in paths.values()}


def test_demo_writes_optional_domains(demo_models_dir):
    """The session's demo folder also holds what the optional writers add (when they exist)."""
    import importlib.util

    if importlib.util.find_spec("models.demo.control") is not None:
        assert any((demo_models_dir / "controlnet").iterdir())
    if importlib.util.find_spec("models.demo.vlm") is not None:
        assert any((demo_models_dir / "vlm").iterdir())


def test_demo_command_prints_how_to_run(tmp_path, demo_models_dir, capsys, monkeypatch):
    import shutil

    from models.demo import command as demo

    base = tmp_path / "base"
    shutil.copytree(demo_models_dir, base / "models")  # already written: the command only checks
    args = argparse.Namespace(base_directory=str(base), user_directory=None, force=False)
    assert demo.demo_command(args) == 0
    out = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in out and "python main.py run workflows/sd3_text_to_image.json" in out
    saved = base / "user" / "default" / "workflows" / "sd3_text_to_image.json"
    assert json.loads(saved.read_text())["version"] == 0.4
