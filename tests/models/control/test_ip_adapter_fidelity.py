"""IP-Adapter through the real graph: fidelity to diffusers' SD3 pipeline with ``load_ip_adapter``,
weight 0, an unmutated base model, ranges and bad fits."""
from __future__ import annotations

import pytest
import torch
from PIL import Image

from tests.fixtures.control import (CLIP_VISION, CONTROLNET_FILE, HINT_A, IP_ADAPTER, IP_ADAPTER_WIDE, IP_IMAGE,
                                    sd3_graph)

STEPS, CFG, SEED, TEXT = 3, 4.0, 11, "a red house"
TOLERANCE = 1e-4


def _ip(weight=1.0, start=0.0, end=1.0, file=IP_ADAPTER):
    return {"file": file, "clip_vision": CLIP_VISION, "image": IP_IMAGE, "weight": weight, "start": start, "end": end}


def _graph(control_env, **options):
    run = control_env.run(sd3_graph(seed=SEED, steps=STEPS, cfg=CFG, text=TEXT, **options))
    assert run.status == "success", run.error
    return run


@pytest.fixture(scope="module")
def base_image(control_env):
    return _graph(control_env).images[0]


def _reference(control_env, scale):
    from diffusers import StableDiffusion3Pipeline
    from transformers import SiglipImageProcessor, SiglipVisionModel

    vision_dir = control_env.models_dir / "clip_vision" / CLIP_VISION
    pipe = StableDiffusion3Pipeline.from_pretrained(
        str(control_env.sd3_path), image_encoder=SiglipVisionModel.from_pretrained(str(vision_dir)),
        feature_extractor=SiglipImageProcessor.from_pretrained(str(vision_dir)))
    pipe.set_progress_bar_config(disable=True)
    # image_encoder_folder=None: the pipeline already has the encoder (diffusers 0.42.1 raises a
    # TypeError with the default folder name; see shared/docs/tiny-models.md).
    pipe.load_ip_adapter(str(control_env.models_dir / "ipadapter"), weight_name=IP_ADAPTER, image_encoder_folder=None)
    pipe.set_ip_adapter_scale(scale)
    image = Image.open(control_env.input_path(IP_IMAGE)).convert("RGB")
    images = pipe(TEXT, negative_prompt="", num_inference_steps=STEPS, guidance_scale=CFG, height=64, width=64,
                  ip_adapter_image=image, generator=torch.Generator("cpu").manual_seed(SEED), output_type="np").images
    return torch.from_numpy(images)


def test_graph_matches_diffusers_ip_adapter_pipeline(control_env, base_image):
    graph = _graph(control_env, ip_adapter=_ip(weight=0.6)).images[0]
    reference = _reference(control_env, 0.6)
    difference = float((graph - reference).abs().max())
    assert difference <= TOLERANCE, f"max abs diff {difference}"
    assert float((graph - base_image).abs().max()) > 0.01, "the image prompt must change the image"


def test_weight_zero_gives_the_base_output(control_env, base_image):
    assert torch.equal(_graph(control_env, ip_adapter=_ip(weight=0.0)).images[0], base_image)


def test_base_model_feeds_an_adapted_and_a_plain_sampler(control_env, base_image):
    adapted_alone = _graph(control_env, ip_adapter=_ip(weight=0.8)).images[0]
    both = _graph(control_env, ip_adapter=_ip(weight=0.8), plain_branch=True).images
    assert len(both) == 2
    outputs = {("adapted" if torch.equal(image, adapted_alone) else
                "plain" if torch.equal(image, base_image) else "wrong") for image in both}
    assert outputs == {"adapted", "plain"}
    again = _graph(control_env).images[0]
    assert torch.equal(again, base_image), "the cached base model still gives the plain output"


def test_partial_range_acts_on_some_steps(control_env, base_image):
    full = _graph(control_env, ip_adapter=_ip(weight=1.0)).images[0]
    late = _graph(control_env, ip_adapter=_ip(weight=1.0, start=0.5)).images[0]
    assert float((late - base_image).abs().max()) > 1e-3 and float((late - full).abs().max()) > 1e-3
    empty = _graph(control_env, ip_adapter=_ip(weight=1.0, start=1.0, end=1.0)).images[0]
    assert torch.equal(empty, base_image)


def test_adapter_combines_with_a_controlnet(control_env, base_image):
    controls = ((CONTROLNET_FILE, HINT_A, 0.8, 0.0, 1.0),)
    control_only = _graph(control_env, controls=controls).images[0]
    both = _graph(control_env, controls=controls, ip_adapter=_ip(weight=0.7)).images[0]
    assert float((both - control_only).abs().max()) > 1e-3 and float((both - base_image).abs().max()) > 1e-3


def test_adapter_for_another_variant_fails_before_sampling(control_env):
    run = control_env.run(sd3_graph(ip_adapter=_ip(file=IP_ADAPTER_WIDE), steps=2))
    assert run.status == "error"
    assert run.error["node_type"] == "SD3IPAdapterApply"
    assert "does not fit this SD3 model" in run.error["exception_message"]
    assert run.progress == 0


def test_interrupt_mid_sampling_puts_the_base_processors_back(control_env):
    from execution.validate import validate_prompt
    from nodes.generation.loaders import load_checkpoint_cached
    from tests.fixtures.control import SD3_FOLDER

    transformer = load_checkpoint_cached(control_env.services, SD3_FOLDER)[0].transformer
    before = {name: type(p).__name__ for name, p in transformer.attn_processors.items()}
    during: list[set] = []
    runner = control_env.runner

    def interrupt_on_first_step(event):
        if event.type == "progress":
            during.append({type(p).__name__ for p in transformer.attn_processors.values()})
            runner.interrupt.set()

    prompt = sd3_graph(ip_adapter=_ip(weight=0.8), seed=SEED, steps=STEPS, cfg=CFG, text=TEXT)
    validation = validate_prompt(prompt, control_env.registry, control_env.services)
    try:
        result = runner.run("p", validation.prompt, validation.outputs, interrupt_on_first_step, {})
    finally:
        runner.interrupt.clear()
    assert result.status == "interrupted"
    assert during == [{"SD3IPAdapterJointAttnProcessor2_0"}], "the adapter is installed while sampling"
    assert {name: type(p).__name__ for name, p in transformer.attn_processors.items()} == before
