"""LoRA on SD 1.5 through LoraLoader: the graph equals StableDiffusionPipeline.load_lora_weights (diffusers
/PEFT keys on the U-Net and CLIP-L), and kohya keys on the original LDM names (as SDXL trainers write
them) equal that spelling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.stable_diffusion import CHECKPOINTS
from tests.models.stable_diffusion.test_unet_fidelity import TOLERANCE, graph, pipeline_image, run_image

RANK = 4
PEFT, KOHYA = "sd15-tiny-RANDOM-lora.safetensors", "sd15-tiny-RANDOM-lora-kohya.safetensors"
MODULES = {  # diffusers module -> (LDM name, in, out) in the tiny SD 1.5 U-Net
    "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q": ("input_blocks.3.1.transformer_blocks.0.attn1.to_q",
                                                                   64, 64),
    "up_blocks.0.attentions.1.transformer_blocks.0.attn2.to_k": ("output_blocks.1.1.transformer_blocks.0.attn2.to_k",
                                                                 16, 64),
    "mid_block.attentions.0.transformer_blocks.0.ff.net.2": ("middle_block.1.transformer_blocks.0.ff.net.2", 256, 64),
}
ENCODER_MODULE = "text_model.encoder.layers.1.self_attn.v_proj"


@pytest.fixture(scope="module")
def lora_files(demo_models_dir):
    from safetensors.torch import save_file

    generator = torch.Generator().manual_seed(5)
    peft, kohya = {}, {}
    for module, (original, width_in, width_out) in MODULES.items():
        down = torch.randn(RANK, width_in, generator=generator) * 0.3
        up = torch.randn(width_out, RANK, generator=generator) * 0.3
        peft[f"unet.{module}.lora_A.weight"], peft[f"unet.{module}.lora_B.weight"] = down, up
        stem = "lora_unet_" + original.replace(".", "_")
        kohya.update({f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up,
                      f"{stem}.alpha": torch.tensor(RANK)})
    down, up = torch.randn(RANK, 16, generator=generator) * 0.3, torch.randn(16, RANK, generator=generator) * 0.3
    peft[f"text_encoder.{ENCODER_MODULE}.lora_A.weight"] = down
    peft[f"text_encoder.{ENCODER_MODULE}.lora_B.weight"] = up
    stem = "lora_te_" + ENCODER_MODULE.replace(".", "_")
    kohya.update({f"{stem}.lora_down.weight": down, f"{stem}.lora_up.weight": up, f"{stem}.alpha": torch.tensor(RANK)})
    folder = demo_models_dir / "loras"
    folder.mkdir(exist_ok=True)
    save_file(peft, str(folder / PEFT))
    save_file(kohya, str(folder / KOHYA))
    return folder


def lora_graph(lora_name: str, seed: int = 4) -> dict:
    prompt = graph(CHECKPOINTS["sd15"], seed=seed)
    prompt["20"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora_name,
                                                          "strength_model": 1.0, "strength_clip": 1.0}}
    prompt["2"]["inputs"]["clip"] = prompt["3"]["inputs"]["clip"] = ["20", 1]
    prompt["5"]["inputs"]["model"] = ["20", 0]
    return prompt


def test_lora_matches_load_lora_weights(sd3_capture_env, lora_files):
    from diffusers import StableDiffusionPipeline

    from models.demo.stable_diffusion import build_tiny_unet_pipeline

    pipeline = StableDiffusionPipeline(**build_tiny_unet_pipeline("sd15"), safety_checker=None,
                                       feature_extractor=None, requires_safety_checker=False)
    pipeline.set_progress_bar_config(disable=True)
    pipeline.load_lora_weights(str(lora_files), weight_name=PEFT)
    expected = pipeline_image(pipeline, "sd15", seed=4)
    image = run_image(sd3_capture_env, lora_graph(PEFT))
    assert np.abs(image - expected).max() <= TOLERANCE
    plain = run_image(sd3_capture_env, graph(CHECKPOINTS["sd15"], seed=4))
    assert np.abs(image - plain).max() > 1e-3


def test_kohya_ldm_names_equal_the_diffusers_spelling(sd3_capture_env, lora_files):
    first = run_image(sd3_capture_env, lora_graph(PEFT, seed=6))
    second = run_image(sd3_capture_env, lora_graph(KOHYA, seed=6))
    assert np.abs(first - second).max() <= 1e-5
