"""FLUX.1 Fill: the graph (UNETLoader + InpaintModelConditioning + KSampler) reproduces diffusers'
FluxFillPipeline on identical tiny weights, image and mask (fp32); the Fill transformer is
recognised from its shapes; the latent noise mask and DifferentialDiffusion behave as documented."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.flux import DIFFUSERS_FOLDERS
from models.demo.flux_tools import FILL_MODEL, build_tiny_flux_fill
from tests.fixtures.flux_tools import flux_tools_prompt
from tests.fixtures.flux_tools import run_captured_image as run

PROMPT = "a red cat on a sofa"
SIZE, STEPS, GUIDANCE = 64, 3, 30.0
TOLERANCE = 1 / 255


def _pixels() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).random((1, SIZE, SIZE, 3), dtype=np.float32))


def _mask(kind: str = "hard") -> torch.Tensor:
    """hard: a rectangle on the 8-pixel grid; ragged: one that cuts 8x8 blocks (so the order of
    the 64 mask channels matters); soft: a ramp from 0 (left) to 1 (right)."""
    mask = torch.zeros(1, SIZE, SIZE)
    if kind == "soft":
        return torch.linspace(0, 1, SIZE)[None, None, :].expand(1, SIZE, SIZE).clone()
    if kind == "ragged":
        mask[:, 13:45, 6:37] = 1.0
        mask[:, 20:23, 40:58] = 1.0
        return mask
    mask[:, 16:48, 8:40] = 1.0
    return mask


@pytest.fixture
def fill_env(sd3_capture_env):
    from execution.declare import Out, String, node

    env = sd3_capture_env

    @node("TestFillInputs", category="_test", inputs=[String("mask_kind", "hard")],
          outputs=[Out("IMAGE"), Out("MASK")])
    def fill_inputs(mask_kind):
        return _pixels(), _mask(mask_kind)

    env.registry.add(fill_inputs.__node_schema__)
    return env


def fill_prompt(*, seed=42, noise_mask=False, differential: float | None = None, mask_kind="hard",
                steps=STEPS) -> dict:
    """The flux_fill templates' graph: FluxGuidance 30, ConditioningZeroOut negative, cfg 1."""
    prompt = flux_tools_prompt(
        unet=FILL_MODEL, text=PROMPT, guidance=GUIDANCE, size=SIZE, steps=steps, seed=seed,
        inputs={"class_type": "TestFillInputs", "inputs": {"mask_kind": mask_kind}},
        conditioning="InpaintModelConditioning",
        conditioning_inputs={"pixels": ["7", 0], "mask": ["7", 1], "noise_mask": noise_mask})
    prompt["13"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["10", 0], "key": "sampled"}}
    prompt["14"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["8", 2], "key": "original"}}
    if differential is not None:
        prompt["15"] = {"class_type": "DifferentialDiffusion", "inputs": {"model": ["9", 0],
                                                                          "strength": differential}}
        prompt["10"]["inputs"]["model"] = ["15", 0]
    return prompt


def test_full_size_fill_transformer_is_recognised_from_shapes():
    """The shipped flux1_fill_dev config is picked from the real model's shapes (built on the meta
    device: no memory); a text-to-image dev model's shapes are not taken for Fill."""
    from diffusers import FluxTransformer2DModel

    from models.flux import configs
    from models.flux.layout import transformer_from_diffusers

    def shapes(family: str) -> dict:
        with torch.device("meta"):
            model = FluxTransformer2DModel.from_config(configs.family_config(family)["transformer"])
        return {k: tuple(v.shape) for k, v in transformer_from_diffusers(model.state_dict()).items()}

    fill_shapes = shapes("flux1_fill_dev")
    assert fill_shapes["img_in.weight"] == (3072, 384) and fill_shapes["final_layer.linear.weight"][0] == 64
    family, config = configs.pick_transformer_config(fill_shapes)
    assert family == "flux1_fill_dev" and config["in_channels"] == 384 and config["out_channels"] == 64
    assert configs.pick_transformer_config(shapes("flux1_dev"))[0] == "flux1_dev"


def test_demo_fill_model_loads_with_its_channels(demo_models_dir):
    from models.flux.loading import load_diffusion_model

    model = load_diffusion_model(demo_models_dir / "diffusion_models" / FILL_MODEL, torch.float32)
    assert (model.latent_channels, model.concat_channels) == (16, 80)
    assert model.guidance_embeds


def test_graph_equals_flux_fill_pipeline(fill_env, demo_models_dir, monkeypatch):
    """noise_mask off: the whole image is drawn from noise, as FluxFillPipeline does. Plexus encodes
    with the VAE distribution's mode (as ComfyUI); the pipeline is told to take the mode too, which
    also leaves its generator to the noise alone."""
    import diffusers.pipelines.flux.pipeline_flux_fill as fill_module
    from diffusers import FluxFillPipeline, FluxPipeline

    image = run(fill_env, fill_prompt(seed=42, mask_kind="ragged"))
    base = FluxPipeline.from_pretrained(str(demo_models_dir / "checkpoints" / DIFFUSERS_FOLDERS["dev"]),
                                        torch_dtype=torch.float32)
    parts = {k: v for k, v in base.components.items() if k not in ("image_encoder", "feature_extractor")}
    pipeline = FluxFillPipeline(**dict(parts, transformer=build_tiny_flux_fill()))
    pipeline.set_progress_bar_config(disable=True)
    original = fill_module.retrieve_latents
    monkeypatch.setattr(fill_module, "retrieve_latents",
                        lambda output, generator=None, sample_mode="sample": original(output, generator, "argmax"))
    expected = pipeline(PROMPT, image=_pixels().permute(0, 3, 1, 2), mask_image=_mask("ragged")[:, None],
                        height=SIZE, width=SIZE, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                        max_sequence_length=256, generator=torch.Generator("cpu").manual_seed(42),
                        output_type="np").images
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    assert image.std() > 0.01
    # The masked image and the mask reach the model: another mask gives another image.
    other = run(fill_env, fill_prompt(seed=42, mask_kind="soft"))
    assert np.abs(other - image).max() > 0.01


def test_noise_mask_keeps_the_unmasked_latent(fill_env):
    run(fill_env, fill_prompt(seed=3, noise_mask=True))
    sampled, original = fill_env.captured["sampled"], fill_env.captured["original"]
    assert original["noise_mask"].shape == (1, 1, SIZE, SIZE)
    latent_mask = torch.zeros(SIZE // 8, SIZE // 8, dtype=torch.bool)
    latent_mask[2:6, 1:5] = True
    outside, inside = sampled["samples"][..., ~latent_mask], sampled["samples"][..., latent_mask]
    assert torch.equal(outside, original["samples"][..., ~latent_mask])
    assert (inside - original["samples"][..., latent_mask]).abs().max() > 0.05


def test_differential_diffusion_thresholds_the_mask_per_step():
    from models.differential_diffusion import DifferentialDiffusion
    from models.flux.wrappers import FluxModel

    model = FluxModel(transformer=None, shift=1.0)
    sigmas = torch.tensor([1.0, 0.75, 0.5, 0.25, 0.0])
    mask = torch.tensor([0.0, 0.3, 0.5, 0.8, 1.0])
    patch = DifferentialDiffusion()
    floor = 1 / 1000  # the model's smallest sigma (timestep 1 of 1000)
    for sigma in (1.0, 0.75, 0.5, 0.25):
        threshold = (sigma - floor) / (1.0 - floor)
        assert torch.equal(patch.denoise_mask(model, sigma, mask, sigmas), (mask >= threshold).float())
    assert patch.denoise_mask(model, 1.0, mask, sigmas).tolist() == [0, 0, 0, 0, 1]
    assert patch.denoise_mask(model, 0.5, mask, sigmas).tolist() == [0, 0, 1, 1, 1]
    half = DifferentialDiffusion(strength=0.5).denoise_mask(model, 0.5, mask, sigmas)
    assert torch.allclose(half, 0.5 * torch.tensor([0, 0, 1, 1, 1.0]) + 0.5 * mask)


def test_differential_diffusion_in_the_graph(fill_env):
    """A soft mask: with DifferentialDiffusion the low-mask side changes less than the high one, and
    the patch changes the result; the cached base MODEL is not modified."""
    plain = run(fill_env, fill_prompt(seed=5, noise_mask=True, mask_kind="soft"))
    soft = run(fill_env, fill_prompt(seed=5, noise_mask=True, mask_kind="soft", differential=1.0))
    assert np.abs(plain - soft).max() > 0.01
    sampled, original = fill_env.captured["sampled"]["samples"], fill_env.captured["original"]["samples"]
    change = (sampled - original).abs().mean(dim=(0, 1, 2))  # per latent column, left (mask 0) to right (1)
    assert change[0] < change[-1]
    assert np.abs(run(fill_env, fill_prompt(seed=5, noise_mask=True, mask_kind="soft")) - plain).max() == 0


def test_shipped_outpaint_workflow_runs_headless(demo_models_dir, tmp_path, capsys):
    """``workflows/flux_fill_outpaint_api.json``: the demo hint picture (320x256) widened by 64 px on
    each side by the Fill model, as ``main.py run`` does it."""
    from pathlib import Path

    from PIL import Image

    import main

    root = Path(__file__).resolve().parents[3]
    output_dir = tmp_path / "output"
    code = main.main(["--base-directory", str(demo_models_dir.parent), "--output-directory", str(output_dir),
                      "--temp-directory", str(tmp_path / "temp"), "run",
                      str(root / "workflows" / "flux_fill_outpaint_api.json"), "--quiet", "--set", "KSampler.steps=2"])
    out = capsys.readouterr().out
    assert code == 0, out
    (saved,) = sorted(output_dir.glob("plexus-flux-fill-outpaint_*.png"))
    with Image.open(saved) as image:
        assert image.size == (448, 256)
