"""SD 1.5 / SDXL IP-Adapters through the real graph: the demo's original-format adapters (plain and
plus) equal diffusers' ``load_ip_adapter`` + ``ip_adapter_image=`` on identical tiny weights; weight 0,
an unchanged base, ranges, stacking, and clear errors for adapters of another family."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.ip_adapter_unet import ADAPTERS, CLIP_VISION_FILE, build_clip_vision
from models.demo.stable_diffusion import CHECKPOINTS, build_tiny_unet_pipeline

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
TOLERANCE = 1 / 255
SIZE, STEPS, CFG, SEED = 64, 3, 6.0, 4
ADAPTER_OF = {(variant, kind): name for name, (variant, kind) in ADAPTERS.items()}
PICTURE = np.random.default_rng(7).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)  # two image prompts
LEFT_HALF = torch.zeros(1, SIZE, SIZE)
LEFT_HALF[..., : SIZE // 2] = 1.0


def picture_tensor(count: int = 1) -> torch.Tensor:
    return torch.from_numpy(PICTURE[:count].astype(np.float32) / 255.0)


@pytest.fixture(scope="module")
def env(demo_models_dir, tmp_path_factory):
    """One runner (and graph cache) for the module: the loaded models and the plain run are shared.
    The capture node always re-runs, so every run captures even where its input comes from the cache."""
    from execution.declare import In, Int, Out, String, node
    from tests.fixtures.zoo import SD3Env

    captured: dict = {}

    @node("TestIPPicture", category="_test", inputs=[Int("count", 1, min=1, max=2)], outputs=[Out("IMAGE")])
    def ip_picture(count=1):
        return (picture_tensor(count),)

    @node("TestIPCapture", category="_test", output_node=True, inputs=[In("images", "IMAGE"), String("key", "image")],
          fingerprint=lambda services: float("nan"))
    def capture(images, key="image"):
        captured[key] = images
        return {"ui": {}}

    @node("TestIPMask", category="_test", outputs=[Out("MASK")])
    def left_half_mask():
        return (LEFT_HALF.clone(),)

    env = SD3Env(tmp_path_factory.mktemp("unet_ip_adapter"), demo_models_dir)
    env.registry.add_all([ip_picture.__node_schema__, capture.__node_schema__, left_half_mask.__node_schema__])
    env.captured = captured
    yield env
    env.close()


def graph(variant: str, adapters: tuple = (), *, plain_branch: bool = False) -> dict:
    """SD 1.5 / SDXL text-to-image; ``adapters``: dicts {kind, weight, start, end, count} applied in a chain."""
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINTS[variant]}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "cv": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": CLIP_VISION_FILE}},
    }
    model = ["1", 0]
    for index, spec in enumerate(adapters):
        prompt[f"ipa{index}"] = {"class_type": "UNetIPAdapterLoader", "inputs": {
            "ipadapter_file": spec.get("file") or ADAPTER_OF[(variant, spec.get("kind", "ip-adapter"))]}}
        prompt[f"pic{index}"] = {"class_type": "TestIPPicture", "inputs": {"count": spec.get("count", 1)}}
        prompt[f"apply{index}"] = {"class_type": "UNetIPAdapterApply", "inputs": {
            "model": model, "ipadapter": [f"ipa{index}", 0], "clip_vision": ["cv", 0], "image": [f"pic{index}", 0],
            "weight": spec.get("weight", 1.0), "start_percent": spec.get("start", 0.0),
            "end_percent": spec.get("end", 1.0), "crop": "center"}}
        if spec.get("mask"):
            prompt[f"mask{index}"] = {"class_type": "TestIPMask", "inputs": {}}
            prompt[f"apply{index}"]["inputs"]["attn_mask"] = [f"mask{index}", 0]
        model = [f"apply{index}", 0]
    sampler = {"seed": SEED, "steps": STEPS, "cfg": CFG, "sampler_name": "euler", "scheduler": "normal",
               "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}
    prompt["5"] = {"class_type": "KSampler", "inputs": {"model": model, **sampler}}
    prompt["6"] = {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}}
    prompt["7"] = {"class_type": "TestIPCapture", "inputs": {"images": ["6", 0], "key": "image"}}
    if plain_branch:
        prompt["15"] = {"class_type": "KSampler", "inputs": {"model": ["1", 0], **sampler}}
        prompt["16"] = {"class_type": "VAEDecode", "inputs": {"samples": ["15", 0], "vae": ["1", 2]}}
        prompt["17"] = {"class_type": "TestIPCapture", "inputs": {"images": ["16", 0], "key": "plain"}}
    return prompt


def run_image(env, prompt, key: str = "image") -> np.ndarray:
    env.captured.clear()
    result = env.run(prompt)
    assert result.status == "success", str(result.error)[-1500:]
    return env.captured[key].numpy()


def reference(demo_models_dir, variant: str, kind: str, scale: float, count: int = 1, masked: bool = False) -> np.ndarray:
    """diffusers: the pipeline on the demo checkpoint's weights, the demo encoder, ``load_ip_adapter``."""
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline, StableDiffusionXLPipeline
    from PIL import Image

    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    encoder, processor = build_clip_vision()
    components = dict(build_tiny_unet_pipeline(variant), image_encoder=encoder, feature_extractor=processor)
    if variant == "sd15":
        pipe = StableDiffusionPipeline(**components, safety_checker=None, requires_safety_checker=False)
    else:
        pipe = StableDiffusionXLPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_ip_adapter(str(demo_models_dir / "ipadapter"), subfolder="", weight_name=ADAPTER_OF[(variant, kind)],
                         image_encoder_folder=None)
    pipe.set_ip_adapter_scale(scale)
    pipe.scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                            timestep_spacing="leading")
    sigmas = DiscreteSchedule.from_settings(variant_settings(variant)["schedule"]).schedule("normal", STEPS).tolist()
    pictures = [Image.fromarray(item) for item in PICTURE[:count]]
    extra = {"cross_attention_kwargs": {"ip_adapter_masks": [LEFT_HALF.expand(count, SIZE, SIZE)[None]]}} if masked else {}
    return pipe(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE, sigmas=sigmas,
                ip_adapter_image=[pictures] if count > 1 else pictures[0],
                generator=torch.Generator("cpu").manual_seed(SEED), output_type="np", **extra).images


@pytest.mark.parametrize("variant, kind, scale, count, masked", [
    ("sd15", "ip-adapter", 0.7, 1, False), ("sd15", "plus", 1.0, 2, False), ("sdxl_base", "ip-adapter", 0.8, 1, False),
    ("sd15", "plus", 1.0, 2, True)])
def test_graph_matches_load_ip_adapter(env, demo_models_dir, variant, kind, scale, count, masked):
    spec = {"kind": kind, "weight": scale, "count": count, "mask": masked}
    image = run_image(env, graph(variant, (spec,), plain_branch=True))
    expected = reference(demo_models_dir, variant, kind, scale, count, masked)
    assert image.shape == expected.shape == (1, SIZE, SIZE, 3)
    difference = float(np.abs(image - expected).max())
    assert difference <= TOLERANCE, f"max abs diff {difference}"
    assert np.abs(image - env.captured["plain"].numpy()).max() > 0.01, "the image prompt must change the image"
    if masked:
        unmasked = run_image(env, graph(variant, (dict(spec, mask=False),)))
        assert np.abs(image - unmasked).max() > 0.01, "the mask must limit the image prompt"


def test_weight_zero_range_and_an_unchanged_base(env):
    plain = run_image(env, graph("sd15"))
    adapted = run_image(env, graph("sd15", ({"weight": 1.0},), plain_branch=True))
    assert np.array_equal(env.captured["plain"].numpy(), plain), "the base model feeds a plain sampler too"
    assert np.abs(adapted - plain).max() > 0.01
    assert np.array_equal(run_image(env, graph("sd15", ({"weight": 0.0},))), plain)
    assert np.array_equal(run_image(env, graph("sd15", ({"weight": 1.0, "start": 1.0, "end": 1.0},))), plain)
    late = run_image(env, graph("sd15", ({"weight": 1.0, "start": 0.5},)))
    assert np.abs(late - plain).max() > 1e-3 and np.abs(late - adapted).max() > 1e-3


def test_chained_adapters_stack(env):
    single = run_image(env, graph("sd15", ({"weight": 1.0},)))
    both = run_image(env, graph("sd15", ({"weight": 1.0}, {"kind": "plus", "weight": 0.8})))
    assert np.abs(both - single).max() > 1e-3
    second_at_zero = run_image(env, graph("sd15", ({"weight": 1.0}, {"kind": "plus", "weight": 0.0})))
    assert np.abs(second_at_zero - single).max() <= 1e-6


def test_adapter_combines_with_a_controlnet(env):
    """The ControlNet sees the text context only (as in diffusers' ControlNet pipeline); both act."""
    from models.demo.stable_diffusion import CONTROLNET

    def with_controlnet(prompt: dict) -> dict:
        prompt["cn"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET}}
        prompt["hint"] = {"class_type": "TestIPPicture", "inputs": {"count": 1}}
        prompt["cnapply"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["cn", 0], "image": ["hint", 0],
            "strength": 0.9, "start_percent": 0.0, "end_percent": 1.0, "vae": ["1", 2]}}
        prompt["5"]["inputs"].update(positive=["cnapply", 0], negative=["cnapply", 1])
        return prompt

    adapted = run_image(env, graph("sd15", ({"weight": 1.0},)))
    control_only = run_image(env, with_controlnet(graph("sd15")))
    both = run_image(env, with_controlnet(graph("sd15", ({"weight": 1.0},))))
    assert np.abs(both - control_only).max() > 1e-3 and np.abs(both - adapted).max() > 1e-3


def test_interrupt_mid_sampling_puts_the_base_processors_back(env):
    from nodes.generation.loaders import load_checkpoint_cached

    unet = load_checkpoint_cached(env.services, CHECKPOINTS["sd15"])[0].unet
    before = {name: type(p).__name__ for name, p in unet.attn_processors.items()}
    during: list[set] = []

    def interrupt_on_first_step(event):
        if event.type == "progress":
            during.append({type(p).__name__ for p in unet.attn_processors.values()})
            env.runner.interrupt.set()

    env.on_event = interrupt_on_first_step
    try:
        result = env.run(graph("sd15", ({"weight": 0.9},)))
    finally:
        env.on_event = None
        env.runner.interrupt.clear()
    assert result.status == "interrupted"
    assert during == [{"AttnProcessor2_0", "IPAdapterAttnProcessor2_0"}], "the adapter is installed while sampling"
    assert {name: type(p).__name__ for name, p in unet.attn_processors.items()} == before


@pytest.mark.parametrize("variant, file, message", [
    ("sdxl_base", "plexus-demo-ip-adapter_sd15-tiny-RANDOM.safetensors", "use an IP-Adapter made for this model"),
    ("sd15", "plexus-demo-ip-adapter_sdxl-tiny-RANDOM.safetensors", "but the model is SD 1.5"),
])
def test_adapter_of_another_family_fails_before_sampling(env, variant, file, message):
    result = env.run(graph(variant, ({"file": file},)))
    assert result.status == "error"
    assert result.error["node_type"] == "UNetIPAdapterApply"
    assert message in result.error["exception_message"]
    assert not [e for e in env.events if e.type == "progress"]


def test_loader_refuses_other_formats(demo_models_dir, tmp_path):
    from safetensors.torch import save_file

    from models.control.ip_adapter_sd3 import IPAdapterFormatError
    from models.control.ip_adapter_unet import load_unet_ip_adapter
    from models.demo.control import DEMO_IP_ADAPTER

    with pytest.raises(IPAdapterFormatError, match="SD3IPAdapterLoader"):
        load_unet_ip_adapter(demo_models_dir / "ipadapter" / DEMO_IP_ADAPTER)
    face_id = tmp_path / "ip-adapter-faceid_sd15.safetensors"
    save_file({"image_proj.proj.0.weight": torch.zeros(8, 4), "image_proj.proj.2.weight": torch.zeros(16, 8),
               "image_proj.norm.weight": torch.zeros(4), "ip_adapter.1.to_k_ip.weight": torch.zeros(8, 4)},
              str(face_id))
    with pytest.raises(IPAdapterFormatError, match="InsightFace"):
        load_unet_ip_adapter(face_id)
    pickle = tmp_path / "ip-adapter_sd15.bin"
    pickle.write_bytes(b"never read")
    with pytest.raises(IPAdapterFormatError, match="pickle"):
        load_unet_ip_adapter(pickle)


def test_full_face_kind_loads_with_its_projection(tmp_path):
    """The full-face projection (an MLP on the 257 penultimate tokens, original names proj.0/2/3)."""
    from safetensors.torch import save_file

    from models.control.ip_adapter_unet import load_unet_ip_adapter

    embed, context = 32, 16
    state = {"image_proj.proj.0.weight": torch.randn(embed, embed), "image_proj.proj.0.bias": torch.zeros(embed),
             "image_proj.proj.2.weight": torch.randn(context, embed), "image_proj.proj.2.bias": torch.zeros(context),
             "image_proj.proj.3.weight": torch.ones(context), "image_proj.proj.3.bias": torch.zeros(context),
             "ip_adapter.1.to_k_ip.weight": torch.randn(64, context), "ip_adapter.1.to_v_ip.weight": torch.randn(64, context)}
    path = tmp_path / "ip-adapter-full-face_sd15.safetensors"
    save_file(state, str(path))
    adapter = load_unet_ip_adapter(path)
    assert (adapter.kind, adapter.uses_hidden_states, adapter.image_embed_width) == ("full-face", True, embed)
    assert adapter.image_proj(torch.randn(1, 5, embed)).shape == (1, 5, context)
