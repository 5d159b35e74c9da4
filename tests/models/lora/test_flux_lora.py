"""LoRA on FLUX.1 through the LoRA issue's nodes: the graph equals FluxPipeline.load_lora_weights;
kohya keys on the original names (fused qkv, fused single-block linear1, swapped adaLN halves,
CLIP-L and T5 encoders) equal the PEFT spelling."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from models.demo.flux import DIFFUSERS_FOLDERS, TRANSFORMER_CONFIG
from tests.models.flux.test_flux_fidelity import PROMPT, SIZE, run_image, split_prompt

RANK = 4
WIDTH = TRANSFORMER_CONFIG["num_attention_heads"] * TRANSFORMER_CONFIG["attention_head_dim"]
PEFT, KOHYA = "flux-tiny-RANDOM-lora.safetensors", "flux-tiny-RANDOM-lora-kohya.safetensors"


def peft_tensors() -> dict:
    """diffusers/PEFT keys; the parts of one fused original layer share their A matrix."""
    generator = torch.Generator().manual_seed(3)

    def random(*shape):
        return torch.randn(*shape, generator=generator) * 0.3

    tensors = {}
    groups = {  # diffusers modules sharing a down matrix -> their output sizes
        "double": (["transformer_blocks.0.attn.to_q", "transformer_blocks.0.attn.to_k",
                    "transformer_blocks.0.attn.to_v"], [WIDTH] * 3, WIDTH),
        "single": (["single_transformer_blocks.0.attn.to_q", "single_transformer_blocks.0.attn.to_k",
                    "single_transformer_blocks.0.attn.to_v", "single_transformer_blocks.0.proj_mlp"],
                   [WIDTH] * 3 + [4 * WIDTH], WIDTH),
        "out": (["norm_out.linear"], [2 * WIDTH], WIDTH),
        "mlp": (["transformer_blocks.0.ff.net.2"], [WIDTH], 4 * WIDTH),
    }
    for modules, outs, in_features in groups.values():
        down = random(RANK, in_features)
        for module, out_features in zip(modules, outs):
            tensors[f"transformer.{module}.lora_A.weight"] = down.clone()
            tensors[f"transformer.{module}.lora_B.weight"] = random(out_features, RANK)
    return tensors


def kohya_tensors(peft: dict, encoders: dict) -> dict:
    """The same transformer adapters on the original names, alpha = rank / 2 (so strength x2), plus
    encoder adapters (checked for effect only)."""
    out = {}

    def put(stem, up, down):
        out.update({f"{stem}.lora_up.weight": up.contiguous(), f"{stem}.lora_down.weight": down.contiguous(),
                    f"{stem}.alpha": torch.tensor(RANK / 2)})

    def pair(module):
        return peft[f"transformer.{module}.lora_B.weight"], peft[f"transformer.{module}.lora_A.weight"]

    parts = [pair(f"transformer_blocks.0.attn.to_{p}") for p in "qkv"]
    put("lora_unet_double_blocks_0_img_attn_qkv", torch.cat([u for u, _ in parts]), parts[0][1])
    parts = [pair(f"single_transformer_blocks.0.{p}") for p in ("attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp")]
    put("lora_unet_single_blocks_0_linear1", torch.cat([u for u, _ in parts]), parts[0][1])
    up, down = pair("norm_out.linear")
    first, second = up.chunk(2)
    put("lora_unet_final_layer_adaLN_modulation_1", torch.cat([second, first]), down)
    put("lora_unet_double_blocks_0_img_mlp_2", *pair("transformer_blocks.0.ff.net.2"))
    out.update(encoders)
    return out


@pytest.fixture(scope="module")
def flux_loras(demo_models_dir):
    from safetensors.torch import save_file

    folder = demo_models_dir / "loras"
    folder.mkdir(exist_ok=True)
    peft = peft_tensors()
    generator = torch.Generator().manual_seed(4)
    encoders = {}
    for stem, (out_features, in_features) in {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj": (16, 16),
                                              "lora_te2_encoder_block_0_layer_0_SelfAttention_q": (64, 64)}.items():
        encoders[f"{stem}.lora_up.weight"] = torch.randn(out_features, RANK, generator=generator)
        encoders[f"{stem}.lora_down.weight"] = torch.randn(RANK, in_features, generator=generator)
    save_file(peft, str(folder / PEFT))
    save_file(kohya_tensors(peft, encoders), str(folder / KOHYA))
    return folder


def with_lora(prompt: dict, name: str, strength: float, strength_clip: float = 0.0) -> dict:
    prompt["20"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["2", 0], "lora_name": name,
                                                           "strength_model": strength, "strength_clip": strength_clip}}
    prompt["11"]["inputs"]["model"] = ["20", 0]
    for node_id in ("4", "6"):
        prompt[node_id]["inputs"]["clip"] = ["20", 1]
    return prompt


def test_flux_lora_matches_load_lora_weights(sd3_capture_env, flux_loras):
    from diffusers import FluxPipeline

    pipeline = FluxPipeline.from_pretrained(str(flux_loras.parent / "checkpoints" / DIFFUSERS_FOLDERS["dev"]),
                                            torch_dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    pipeline.load_lora_weights(str(flux_loras / PEFT))
    expected = pipeline(PROMPT, num_inference_steps=3, guidance_scale=3.5, height=SIZE, width=SIZE,
                        max_sequence_length=256, generator=torch.Generator("cpu").manual_seed(42), output_type="np",
                        joint_attention_kwargs={"scale": 0.7}).images
    image = run_image(sd3_capture_env, with_lora(split_prompt("dev"), PEFT, 0.7))
    base = run_image(sd3_capture_env, split_prompt("dev"))
    assert np.abs(image - expected).max() <= 1 / 255
    assert np.abs(image - base).max() > 0.05  # the LoRA does change the image


def test_flux_kohya_spelling_equals_peft_and_reaches_the_encoders(sd3_capture_env, flux_loras):
    peft = run_image(sd3_capture_env, with_lora(split_prompt("dev"), PEFT, 0.5))
    kohya = run_image(sd3_capture_env, with_lora(split_prompt("dev"), KOHYA, 1.0))
    assert np.abs(peft - kohya).max() <= 1e-4
    encoders = run_image(sd3_capture_env, with_lora(split_prompt("dev"), KOHYA, 1.0, strength_clip=1.0))
    assert np.abs(encoders - kohya).max() > 1e-3
