"""FLUX.1 Canny / Depth [dev]: the graph (UNETLoader + InstructPixToPixConditioning + KSampler)
reproduces diffusers' FluxControlPipeline on identical tiny weights and control image (fp32), and
the structural-control transformer is recognised from its shapes."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.flux import DIFFUSERS_FOLDERS
from models.demo.flux_tools import CANNY_MODEL, build_tiny_flux_canny
from tests.fixtures.flux_tools import flux_tools_prompt
from tests.fixtures.flux_tools import run_captured_image as run

PROMPT = "a ladybug on a rose"
SIZE, STEPS, GUIDANCE = 64, 3, 10.0
TOLERANCE = 1 / 255


def _control_image(seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).random((1, SIZE, SIZE, 3), dtype=np.float32))


@pytest.fixture
def control_env(sd3_capture_env):
    from execution.declare import Int, Out, node

    env = sd3_capture_env

    @node("TestControlImage", category="_test", inputs=[Int("seed", 0)], outputs=[Out("IMAGE")])
    def control_image(seed):
        return (_control_image(seed),)

    env.registry.add(control_image.__node_schema__)
    return env


def control_prompt(*, seed=42, image_seed=0) -> dict:
    """The flux_canny_model_example graph: FluxGuidance, ConditioningZeroOut negative, cfg 1."""
    return flux_tools_prompt(unet=CANNY_MODEL, text=PROMPT, guidance=GUIDANCE, size=SIZE, steps=STEPS, seed=seed,
                             inputs={"class_type": "TestControlImage", "inputs": {"seed": image_seed}},
                             conditioning="InstructPixToPixConditioning", conditioning_inputs={"pixels": ["7", 0]})


def test_full_size_control_transformer_is_recognised_from_shapes():
    from diffusers import FluxTransformer2DModel

    from models.flux import configs
    from models.flux.layout import transformer_from_diffusers

    with torch.device("meta"):
        model = FluxTransformer2DModel.from_config(configs.family_config("flux1_control_dev")["transformer"])
    shapes = {k: tuple(v.shape) for k, v in transformer_from_diffusers(model.state_dict()).items()}
    assert shapes["img_in.weight"] == (3072, 128)
    family, config = configs.pick_transformer_config(shapes)
    assert family == "flux1_control_dev" and (config["in_channels"], config["out_channels"]) == (128, 64)


def test_graph_equals_flux_control_pipeline(control_env, demo_models_dir, monkeypatch):
    """Plexus encodes the control image with the VAE distribution's mode (as ComfyUI); the pipeline
    samples it with its generator, so the test makes it take the mode, which also leaves the
    generator to the noise alone."""
    from diffusers import FluxControlPipeline, FluxPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    from models.flux.loading import load_diffusion_model

    model = load_diffusion_model(demo_models_dir / "diffusion_models" / CANNY_MODEL, torch.float32)
    assert (model.latent_channels, model.concat_channels) == (16, 16)
    image = run(control_env, control_prompt(seed=42))
    base = FluxPipeline.from_pretrained(str(demo_models_dir / "checkpoints" / DIFFUSERS_FOLDERS["dev"]),
                                        torch_dtype=torch.float32)
    parts = {k: v for k, v in base.components.items() if k not in ("image_encoder", "feature_extractor")}
    pipeline = FluxControlPipeline(**dict(parts, transformer=build_tiny_flux_canny()))
    pipeline.set_progress_bar_config(disable=True)
    monkeypatch.setattr(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode())
    control = _control_image().permute(0, 3, 1, 2) * 2 - 1  # a tensor is taken as already normalised
    expected = pipeline(PROMPT, control_image=control, height=SIZE, width=SIZE,
                        num_inference_steps=STEPS, guidance_scale=GUIDANCE, max_sequence_length=256,
                        generator=torch.Generator("cpu").manual_seed(42), output_type="np").images
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    assert np.abs(image - expected).max() <= TOLERANCE
    assert image.std() > 0.01
    # The control image reaches the model: another image gives another result.
    assert np.abs(run(control_env, control_prompt(seed=42, image_seed=1)) - image).max() > 0.01
