"""ControlNet through the real graph: fidelity to diffusers' StableDiffusion3ControlNetPipeline,
the zero-conv promise (strength 0, empty range), stacking, hint resizing and bad fits."""
from __future__ import annotations

from unittest import mock

import pytest
import torch
from PIL import Image

from tests.fixtures.control import (CONTROLNET_FILE, CONTROLNET_FOLDER, CONTROLNET_SD35, CONTROLNET_WIDE, HINT_A,
                                    HINT_B, HINT_ODD, sd3_graph)

STEPS, CFG, SEED, TEXT = 3, 4.0, 7, "a photo of a cat"
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def base_components(control_env):
    from diffusers import StableDiffusion3Pipeline

    return StableDiffusion3Pipeline.from_pretrained(str(control_env.sd3_path)).components


@pytest.fixture(scope="module")
def base_image(control_env):
    run = control_env.run(sd3_graph(seed=SEED, steps=STEPS, cfg=CFG, text=TEXT))
    assert run.status == "success", run.error
    return run.images[0]


def _reference(control_env, components, controls):
    """diffusers' pipeline with the same weights, hints, seed, steps and cfg. The pipeline draws a
    *sample* of the VAE posterior for the hint with the unseeded global RNG; the graph uses the
    posterior mean, so the reference is run with ``sample`` returning the mean."""
    from diffusers import StableDiffusion3ControlNetPipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

    from models.control.controlnet_sd3 import load_sd3_controlnet

    nets = [load_sd3_controlnet(control_env.models_dir / "controlnet" / name).module for name, *_ in controls]
    hints = [Image.open(control_env.input_path(image)).convert("RGB") for _, image, *_ in controls]
    scales = [strength for _, _, strength, *_ in controls]
    pipe = StableDiffusion3ControlNetPipeline(**components, controlnet=nets if len(nets) > 1 else nets[0])
    pipe.set_progress_bar_config(disable=True)
    with mock.patch.object(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode()):
        images = pipe(TEXT, negative_prompt="", num_inference_steps=STEPS, guidance_scale=CFG, height=64, width=64,
                      control_image=hints if len(hints) > 1 else hints[0],
                      controlnet_conditioning_scale=scales if len(scales) > 1 else scales[0],
                      generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").images
    return torch.from_numpy(images)


def _graph(control_env, controls, **options):
    run = control_env.run(sd3_graph(controls=tuple(controls), seed=SEED, steps=STEPS, cfg=CFG, text=TEXT, **options))
    assert run.status == "success", run.error
    return run


@pytest.mark.parametrize("controls", [
    [(CONTROLNET_FILE, HINT_A, 0.8, 0.0, 1.0)],
    [(CONTROLNET_FILE, HINT_A, 0.8, 0.0, 1.0), (CONTROLNET_FOLDER, HINT_B, 1.3, 0.0, 1.0)],
    [(CONTROLNET_SD35, HINT_A, 0.9, 0.0, 1.0)],
], ids=["one", "two", "sd35-layout"])
def test_graph_matches_diffusers_controlnet_pipeline(control_env, base_components, base_image, controls):
    graph = _graph(control_env, controls).images[0]
    reference = _reference(control_env, base_components, controls)
    assert graph.shape == reference.shape
    difference = float((graph - reference).abs().max())
    assert difference <= TOLERANCE, f"max abs diff {difference}"
    assert float((graph - base_image).abs().max()) > 0.01, "the ControlNet must change the image"


def test_two_controlnets_stack(control_env):
    one = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 0.8, 0.0, 1.0)]).images[0]
    other = _graph(control_env, [(CONTROLNET_FOLDER, HINT_B, 1.3, 0.0, 1.0)]).images[0]
    both = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 0.8, 0.0, 1.0),
                                (CONTROLNET_FOLDER, HINT_B, 1.3, 0.0, 1.0)]).images[0]
    assert float((both - one).abs().max()) > 0.01 and float((both - other).abs().max()) > 0.01


def test_strength_zero_and_an_empty_range_reproduce_the_base_exactly(control_env, base_image):
    zero = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 0.0, 0.0, 1.0)]).images[0]
    assert torch.equal(zero, base_image)
    outside = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 1.5, 1.0, 1.0)]).images[0]  # no step at 100 %
    assert torch.equal(outside, base_image)
    early = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 1.5, 0.0, 0.5)]).images[0]
    full = _graph(control_env, [(CONTROLNET_FILE, HINT_A, 1.5, 0.0, 1.0)]).images[0]
    assert float((early - base_image).abs().max()) > 1e-3 and float((early - full).abs().max()) > 1e-3, \
        "a partial range acts on some steps only"


def test_mismatched_hint_is_resized_with_a_warning(control_env, base_image):
    run = _graph(control_env, [(CONTROLNET_FILE, HINT_ODD, 1.0, 0.0, 1.0)])
    assert any("56x40" in w and "64x64" in w for w in run.warnings), run.warnings
    assert float((run.images[0] - base_image).abs().max()) > 0.01


def test_controlnet_for_another_variant_fails_before_sampling(control_env):
    run = control_env.run(sd3_graph(controls=((CONTROLNET_WIDE, HINT_A, 1.0, 0.0, 1.0),), steps=2))
    assert run.status == "error"
    assert run.error["node_type"] == "KSampler"
    assert "does not fit this SD3 model" in run.error["exception_message"]
    assert "64" in run.error["exception_message"] and "32" in run.error["exception_message"]
    assert run.progress == 0, "refused before the first step"
