"""LoRA on SD3: the graph equals diffusers' ``load_lora_weights``; kohya and PEFT spellings agree;
stacking, strength 0, negative strengths; the cached base is never changed; bad files are refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.lora import KOHYA_LORA, PEFT_LORA
from models.demo.sd3 import CHECKPOINT, DIFFUSERS_FOLDER
from tests.models.sd3.test_sd3_fidelity import NEGATIVE, PROMPT, run_image, t2i_prompt


def lora_prompt(loras: list[tuple[str, float, float]], *, seed=42, steps=3, ckpt=CHECKPOINT) -> dict:
    """t2i_prompt with a chain of LoraLoaders between the checkpoint and the encoders/sampler."""
    prompt = t2i_prompt(ckpt, seed=seed, steps=steps)
    model, clip = ["1", 0], ["1", 1]
    for index, (name, strength_model, strength_clip) in enumerate(loras):
        node_id = f"l{index}"
        prompt[node_id] = {"class_type": "LoraLoader", "inputs": {
            "model": model, "clip": clip, "lora_name": name, "strength_model": strength_model,
            "strength_clip": strength_clip}}
        model, clip = [node_id, 0], [node_id, 1]
    prompt["2"]["inputs"]["clip"] = clip
    prompt["3"]["inputs"]["clip"] = clip
    prompt["5"]["inputs"]["model"] = model
    return prompt


@pytest.fixture(scope="module")
def lora_models(demo_models_dir):
    from models.demo.lora import write_demo_lora

    write_demo_lora(demo_models_dir)
    return demo_models_dir / "loras"


@pytest.fixture(scope="module")
def base_image(lora_models, tmp_path_factory, demo_models_dir):
    from tests.fixtures.zoo import CAPTURED, SD3Env, _capture_schemas

    env = SD3Env(tmp_path_factory.mktemp("lora-base"), demo_models_dir)
    env.registry.add_all(_capture_schemas())
    try:
        assert env.run(t2i_prompt(CHECKPOINT, seed=42, steps=3)).status == "success"
        return CAPTURED["image"].numpy().copy()
    finally:
        env.close()


def test_lora_matches_diffusers_load_lora_weights(sd3_capture_env, lora_models, base_image):
    from diffusers import StableDiffusion3Pipeline

    pipe = StableDiffusion3Pipeline.from_pretrained(str(lora_models.parent / "checkpoints" / DIFFUSERS_FOLDER),
                                                    torch_dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(str(lora_models / PEFT_LORA))
    expected = pipe(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=3, guidance_scale=5.0, height=64,
                    width=64, generator=torch.Generator("cpu").manual_seed(42), output_type="np",
                    joint_attention_kwargs={"scale": 0.7}).images
    image = run_image(sd3_capture_env, lora_prompt([(PEFT_LORA, 0.7, 0.7)]))
    assert np.abs(image - expected).max() <= 1 / 255
    assert np.abs(image - base_image).max() > 0.05  # the LoRA does change the image


def test_kohya_spelling_equals_peft_spelling(sd3_capture_env, lora_models):
    """Fused qkv rows, swapped adaLN halves, a conv adapter and alpha = rank/2 (so strength x2)."""
    peft = run_image(sd3_capture_env, lora_prompt([(PEFT_LORA, 0.5, 0.5)]))
    kohya = run_image(sd3_capture_env, lora_prompt([(KOHYA_LORA, 1.0, 1.0)]))
    assert np.abs(peft - kohya).max() <= 1e-4


def test_strength_zero_stacking_and_negative(sd3_capture_env, lora_models, base_image):
    env = sd3_capture_env
    zero = run_image(env, lora_prompt([(PEFT_LORA, 0.0, 0.0)]))
    assert np.array_equal(zero, base_image)
    cancelled = run_image(env, lora_prompt([(PEFT_LORA, 0.6, 0.6), (KOHYA_LORA, -1.2, -1.2)]))
    assert np.abs(cancelled - base_image).max() <= 1e-4
    doubled = run_image(env, lora_prompt([(PEFT_LORA, 0.4, 0.4), (PEFT_LORA, 0.4, 0.4)]))
    single = run_image(env, lora_prompt([(PEFT_LORA, 0.8, 0.8)]))
    assert np.abs(doubled - single).max() <= 1e-4


def test_base_is_shared_and_never_changed(sd3_capture_env, lora_models, base_image):
    """One checkpoint feeds a LoRA'd and a plain sampler in one prompt; the plain one is the base."""
    env = sd3_capture_env
    prompt = lora_prompt([(PEFT_LORA, 1.0, 1.0)])
    prompt["20"] = {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}}
    prompt["21"] = {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}}
    prompt["22"] = dict(prompt["5"], inputs=dict(prompt["5"]["inputs"], model=["1", 0], positive=["20", 0],
                                                  negative=["21", 0]))
    prompt["23"] = {"class_type": "VAEDecode", "inputs": {"samples": ["22", 0], "vae": ["1", 2]}}
    prompt["24"] = {"class_type": "TestCaptureImage", "inputs": {"images": ["23", 0], "key": "plain"}}
    result = env.run(prompt)
    assert result.status == "success", result.error
    assert np.array_equal(env.captured["plain"].numpy(), base_image)
    assert np.abs(env.captured["image"].numpy() - base_image).max() > 0.05
    from nodes.generation.loaders import load_checkpoint_cached

    transformer = load_checkpoint_cached(env.services, CHECKPOINT)[0].transformer  # the cached base
    assert not any(module._forward_hooks for module in transformer.modules())  # no hook left behind

def test_refusals_name_the_problem(tmp_path):
    from models.lora.adapters import LoraFormatError, adapters_from_tensors
    from models.lora.patch import lora_patches

    loha = {"lora_unet_x_embedder_proj.hada_w1_a": torch.zeros(2, 2)}
    with pytest.raises(LoraFormatError, match="LoHa"):
        adapters_from_tensors(loha, "loha.safetensors")
    stray = {"a.lora_up.weight": torch.zeros(4, 2), "a.lora_down.weight": torch.zeros(2, 4), "b.weird": torch.zeros(1)}
    with pytest.raises(LoraFormatError, match="b.weird"):
        adapters_from_tensors(stray, "stray.safetensors")
    sdxl = adapters_from_tensors({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(4, 2),
                                  "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(2, 4)},
                                 "sdxl.safetensors")
    from diffusers import SD3Transformer2DModel

    from models.demo.sd3 import TRANSFORMER_CONFIG
    from models.sd3.wrappers import SD3Model

    model = SD3Model(SD3Transformer2DModel(**TRANSFORMER_CONFIG))
    with pytest.raises(LoraFormatError, match="lora_unet_down_blocks_0_attentions_0_proj_in"):
        lora_patches(sdxl, "sd3", model, None, 1.0, 0.0)
    wrong_rank = adapters_from_tensors({"transformer.proj_out.lora_B.weight": torch.zeros(3, 2),
                                        "transformer.proj_out.lora_A.weight": torch.zeros(2, 32)}, "small.safetensors")
    with pytest.raises(LoraFormatError, match="another model"):
        lora_patches(wrong_rank, "sd3", model, None, 1.0, 0.0)
