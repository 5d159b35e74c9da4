"""Checkpoint formats. Comfy-Org fp8_scaled: the tiny SD3 checkpoint converted to that format
(MMDiT and bundled T5 Linear weights in fp8 with per-layer scale_weight and the scaled_fp8
markers) gives the image of the same weights dequantized; ignoring the scales would not.
Unrecognised tensors are refused by name; missing tokenizers are named before any weight loads."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.demo.sd3 import CHECKPOINT
from tests.models.sd3.test_sd3_fidelity import run_image, t2i_prompt

MMDIT, T5 = "model.diffusion_model.", "text_encoders.t5xxl.transformer."


def _read(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, handle.metadata() or {}


def _linear_weights(tensors: dict) -> list[str]:
    """2-D weights of the MMDiT and T5 that are Linear layers (not embeddings), as Comfy-Org scales."""
    embeddings = ("shared.weight", "embed_tokens.weight", "relative_attention_bias.weight")
    return [k for k, v in tensors.items() if k.startswith((MMDIT, T5)) and k.endswith(".weight") and v.dim() == 2
            and not k.endswith(embeddings)]


@pytest.fixture(scope="module")
def fp8_checkpoints(demo_models_dir) -> dict[str, str]:
    from safetensors.torch import save_file

    from models.scaled_fp8 import quantize_scaled_fp8

    folder = demo_models_dir / "checkpoints"
    tensors, metadata = _read(folder / CHECKPOINT)
    linear = _linear_weights(tensors)
    scaled = quantize_scaled_fp8(tensors, linear, marker=MMDIT + "scaled_fp8")
    scaled[T5 + "scaled_fp8"] = torch.empty(0, dtype=torch.float8_e4m3fn)
    dequantized = dict(tensors)
    for name in linear:
        dequantized[name] = scaled[name].float() * scaled[name[:-len(".weight")] + ".scale_weight"]
    scales_dropped = {k: v for k, v in scaled.items() if not k.endswith((".scale_weight", "scaled_fp8"))}
    names = {"scaled": "tiny-fp8-scaled.safetensors", "dequantized": "tiny-fp8-dequantized.safetensors",
             "dropped": "tiny-fp8-scales-dropped.safetensors"}
    for kind, state in (("scaled", scaled), ("dequantized", dequantized), ("dropped", scales_dropped)):
        save_file(state, str(folder / names[kind]), metadata=metadata)
    assert scaled[linear[0]].dtype == torch.float8_e4m3fn and len(linear) > 20
    return names


def test_fp8_scaled_checkpoint_equals_its_dequantized_weights(sd3_capture_env, fp8_checkpoints):
    scaled = run_image(sd3_capture_env, t2i_prompt(fp8_checkpoints["scaled"], seed=3, steps=3))
    dequantized = run_image(sd3_capture_env, t2i_prompt(fp8_checkpoints["dequantized"], seed=3, steps=3))
    assert np.abs(scaled - dequantized).max() <= 1e-5
    dropped = run_image(sd3_capture_env, t2i_prompt(fp8_checkpoints["dropped"], seed=3, steps=3))
    assert not np.abs(dropped - dequantized).max() <= 0.1  # ignoring the scales: far off, or NaN


def test_dequantize_handles_other_spellings_and_refuses_other_quantizations():
    from models.scaled_fp8 import dequantize_scaled_fp8

    weight = torch.tensor([[1.0, -2.0], [0.5, 4.0]]).to(torch.float8_e4m3fn)
    column = torch.tensor([[2.0], [0.25]])
    out = dequantize_scaled_fp8({"a.weight": weight, "a.weight_scale": column, "a.input_scale": torch.tensor(1.0),
                                 "a.bias": torch.ones(2)}, torch.float32, "f.safetensors")
    assert sorted(out) == ["a.bias", "a.weight"]
    assert out["a.weight"].tolist() == [[2.0, -4.0], [0.125, 1.0]]
    info = torch.tensor(list(b'{"format": "nvfp4"}'), dtype=torch.uint8)
    with pytest.raises(ValueError, match="nvfp4"):
        dequantize_scaled_fp8({"a.weight": weight, "a.scale_weight": torch.tensor(1.0), "a.comfy_quant": info},
                              torch.float32, "f.safetensors")


def test_unrecognised_mmdit_tensor_is_named(demo_models_dir, tmp_path):
    from safetensors.torch import save_file

    from models.sd3.files import ModelFileError
    from models.sd3.loading import load_checkpoint

    tensors, metadata = _read(demo_models_dir / "checkpoints" / CHECKPOINT)
    tensors[MMDIT + "joint_blocks.0.x_block.attn.extra_gate.weight"] = torch.zeros(4)
    path = tmp_path / "extra.safetensors"
    save_file(tensors, str(path), metadata=metadata)
    with pytest.raises(ModelFileError, match="extra_gate"):
        load_checkpoint(path, torch.float32)


@pytest.mark.parametrize("extra", ["decoder.up.0.block.0.extra_gate.weight", "decoder.mid.attn_2.q.weight",
                                   "encoder.conv_in.lora_down.weight", "post_quant_conv.scale"])
def test_unrecognised_vae_tensor_is_named(demo_models_dir, tmp_path, extra):
    """In a VAE file, in the diffusers layout and inside a checkpoint: never silently dropped."""
    from safetensors.torch import save_file

    from models.demo.sd3 import VAE
    from models.sd3.files import ModelFileError
    from models.sd3.loading import load_checkpoint, load_vae

    tensors, metadata = _read(demo_models_dir / "vae" / VAE)
    tensors = {k.removeprefix("first_stage_model."): v for k, v in tensors.items()}
    assert load_vae(demo_models_dir / "vae" / VAE, torch.float32) is not None  # the clean file still loads
    path = tmp_path / "extra-vae.safetensors"
    save_file({**tensors, extra: torch.zeros(4)}, str(path), metadata=metadata)
    with pytest.raises(ModelFileError, match=rf"extra-vae.safetensors: 1 VAE tensor\(s\) not recognised.*{extra}"):
        load_vae(path, torch.float32)

    prefixed = {f"first_stage_model.{k}": v for k, v in tensors.items()}
    save_file({**prefixed, "model_ema.decay": torch.zeros(())}, str(path), metadata=metadata)
    with pytest.raises(ModelFileError, match=r"outside the VAE .*model_ema.decay"):
        load_vae(path, torch.float32)

    checkpoint, metadata = _read(demo_models_dir / "checkpoints" / CHECKPOINT)
    checkpoint[f"first_stage_model.{extra}"] = torch.zeros(4)
    save_file(checkpoint, str(path), metadata=metadata)
    with pytest.raises(ModelFileError, match=extra):
        load_checkpoint(path, torch.float32)


def test_unrecognised_tensor_in_a_diffusers_layout_vae_file_is_named(tmp_path):
    from safetensors.torch import save_file

    from models.demo.sd3 import build_tiny_sd3
    from models.sd3.files import ModelFileError
    from models.sd3.loading import load_vae

    state = {k: v.contiguous() for k, v in build_tiny_sd3()["vae"].state_dict().items()}
    state["decoder.up_blocks.0.resnets.0.extra.weight"] = torch.zeros(4)
    path = tmp_path / "vae-diffusers.safetensors"
    save_file(state, str(path), metadata={"plexus.config": '{"vae": {"norm_num_groups": 4}}'})
    with pytest.raises(ModelFileError, match="not recognised.*extra.weight"):
        load_vae(path, torch.float32)


def test_missing_tokenizers_are_listed_before_any_weight_loads(demo_models_dir, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    import models.sd3.loading as loading
    from models.sd3.files import ModelFileError

    tensors, metadata = _read(demo_models_dir / "checkpoints" / CHECKPOINT)
    path = tmp_path / "no-tokenizers.safetensors"
    save_file(tensors, str(path), metadata={k: v for k, v in metadata.items() if "tokenizer" not in k})

    def no_weights(*_args, **_kwargs):
        raise AssertionError("weights were read before the tokenizer check")

    monkeypatch.setattr(loading, "load_tensors", no_weights)
    text_encoders = tmp_path / "text_encoders"
    with pytest.raises(ModelFileError) as raised:
        loading.load_checkpoint(path, torch.float32, [text_encoders])
    message = str(raised.value)
    for role, subfolder in (("clip_l", "tokenizer/"), ("clip_g", "tokenizer_2/"), ("t5xxl", "tokenizer_3/")):
        assert f"{text_encoders / 'tokenizers' / role}/" in message and subfolder in message
