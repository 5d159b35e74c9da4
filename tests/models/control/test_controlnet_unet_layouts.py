"""SD 1.5 / SDXL ControlNet files in every layout (original LDM names, a ``control_model.`` training
checkpoint in fp16, diffusers names with or without a config, folders) load through ControlNetLoader's
loader into the same ControlNetModel; the config read from shapes equals the net's; foreign files are
refused clearly. No sampling here (``test_controlnet_unet_fidelity.py`` samples)."""
from __future__ import annotations

import pytest
import torch

from tests.fixtures.unet_control import UNET_CONTROLNETS

CONFIG_KEYS = ("in_channels", "conditioning_channels", "conditioning_embedding_out_channels", "down_block_types",
               "block_out_channels", "layers_per_block", "cross_attention_dim", "use_linear_projection",
               "addition_embed_type", "addition_time_embed_dim", "projection_class_embeddings_input_dim",
               "norm_num_groups")


def _levels(value, count: int) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


def _residuals(module, variant: str) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    config = module.config
    x = torch.randn(1, 4, 8, 8, generator=generator)
    hint = torch.rand(1, 3, 64, 64, generator=generator)
    context = torch.randn(1, 5, config.cross_attention_dim, generator=generator)
    added = None
    if variant == "sdxl_base":
        added = {"text_embeds": torch.randn(1, 32, generator=generator),
                 "time_ids": torch.tensor([[64.0, 64.0, 0.0, 0.0, 64.0, 64.0]])}
    with torch.no_grad():
        down, mid = module(x, torch.tensor([500.0]), encoder_hidden_states=context, controlnet_cond=hint,
                           added_cond_kwargs=added, return_dict=False)
    return [*down, mid]


@pytest.mark.parametrize("key", sorted(UNET_CONTROLNETS))
def test_every_layout_loads_the_same_net(unet_control_models, key):
    from nodes.control.controlnet import _load_any_controlnet

    variant = UNET_CONTROLNETS[key][1]
    reference = unet_control_models.nets[variant]
    loaded = _load_any_controlnet(unet_control_models.path(key), torch.float32, None)
    assert loaded.family == "stable_diffusion"
    levels = len(reference.config.block_out_channels)
    for name in CONFIG_KEYS:
        assert _levels(loaded.config[name], levels) == _levels(reference.config[name], levels), name
    expected = {k: (v.half().float() if key.endswith("fp16") else v) for k, v in reference.state_dict().items()}
    state = loaded.module.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[k], expected[k]) for k in expected), "identical weights"
    ours, theirs = _residuals(loaded.module, variant), _residuals(reference, variant)
    tolerance = 1e-2 if key.endswith("fp16") else 1e-5  # same weights; kernels may sum in another order
    assert all(float((a - b).abs().max()) <= tolerance for a, b in zip(ours, theirs))
    assert any(float(r.abs().max()) > 0 for r in ours), "the tiny nets act"


def test_original_layout_round_trips_through_diffusers_converter(unet_control_models):
    """diffusers -> LDM (written for the tests and the demo) is the inverse of diffusers' converter
    (plus SDXL's label_emb), key for key."""
    from models.stable_diffusion.controlnet_layout import diffusers_to_original, original_to_diffusers

    for variant, net in unet_control_models.nets.items():
        state = net.state_dict()
        original = diffusers_to_original(state, int(net.config.layers_per_block))
        assert "input_hint_block.0.weight" in original and "middle_block_out.0.weight" in original
        assert ("label_emb.0.0.weight" in original) == (variant == "sdxl_base")
        back = original_to_diffusers(original)
        assert back.keys() == state.keys() and all(torch.equal(back[k], state[k]) for k in state)


def test_family_is_read_from_shapes():
    from models.stable_diffusion.controlnet_layout import ControlNetLayoutError, family_of, infer_config

    sd15 = {"controlnet_cond_embedding.conv_in.weight": (16, 3, 3, 3), "conv_in.weight": (320, 4, 3, 3),
            "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 768)}
    assert family_of(sd15) == "sd15"
    sdxl = dict(sd15, **{"add_embedding.linear_1.weight": (1280, 2816),
                         "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 2048)})
    assert family_of(sdxl) == "sdxl"
    sd21 = dict(sd15, **{"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight": (320, 1024)})
    with pytest.raises(ControlNetLayoutError, match="2.x"):
        family_of(sd21)
    with pytest.raises(ControlNetLayoutError, match="no ControlNet tensors"):
        infer_config({"controlnet_cond_embedding.blocks.0.weight": (16, 16, 3, 3)})


def test_real_head_counts_come_from_the_shipped_configs():
    """Without hints: SD 1.x nets have 8 heads per level, SDXL ones 64-wide heads (the reference configs)."""
    from models.stable_diffusion.controlnet_layout import _heads

    assert _heads("sd15", [320, 640, 1280, 1280], {}) == [8, 8, 8, 8]
    assert _heads("sdxl", [320, 640, 1280], {}) == [5, 10, 20]


def test_foreign_and_broken_files_are_refused(tmp_path, unet_control_models):
    from safetensors.torch import save_file

    from models.control.controlnet_sd3 import ControlNetFormatError
    from models.control.controlnet_unet import load_unet_controlnet

    sd21 = tmp_path / "control_v11p_sd21_canny.safetensors"
    save_file({"input_hint_block.0.weight": torch.zeros(16, 3, 3, 3), "input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
               "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": torch.zeros(8, 1024)}, str(sd21))
    with pytest.raises(ControlNetFormatError, match="sd21_canny.*2.x"):
        load_unet_controlnet(sd21)
    control_lora = tmp_path / "control-lora-canny-rank128.safetensors"
    save_file({"lora_controlnet": torch.zeros(1), "input_hint_block.0.weight": torch.zeros(16, 3, 3, 3),
               "input_blocks.1.0.in_layers.2.up": torch.zeros(8, 4)}, str(control_lora))
    with pytest.raises(ControlNetFormatError, match="rank128.*Control-LoRA"):
        load_unet_controlnet(control_lora)
    union = tmp_path / "controlnet-union-sdxl-1.0.safetensors"
    save_file({"task_embedding": torch.zeros(8, 320), "controlnet_cond_embedding.conv_in.weight": torch.zeros(16, 3, 3, 3)},
              str(union))
    with pytest.raises(ControlNetFormatError, match="Union"):
        load_unet_controlnet(union)
    truncated = tmp_path / "cut.safetensors"
    tensors = {k: v for k, v in unet_control_models.nets["sd15"].state_dict().items()
               if not k.startswith("controlnet_mid_block")}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(truncated))
    with pytest.raises(Exception, match="cut.safetensors.*missing"):
        load_unet_controlnet(truncated)


def test_sdxl_small_layout_with_empty_attention_levels():
    """diffusers' SDXL "small" / "mid" nets have attention levels without transformer blocks
    (transformer_layers_per_block [0, 0, 1]): the config read from shapes builds exactly their tensors,
    in both layouts."""
    from diffusers import ControlNetModel

    from models.sd3.configs import shapes_of
    from models.stable_diffusion.controlnet_layout import diffusers_to_original, infer_config, original_to_diffusers

    torch.manual_seed(0)
    net = ControlNetModel(down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                          block_out_channels=(32, 32, 64), layers_per_block=1, transformer_layers_per_block=(0, 0, 1),
                          attention_head_dim=(2, 2, 4), cross_attention_dim=48, use_linear_projection=True,
                          addition_embed_type="text_time", addition_time_embed_dim=8,
                          projection_class_embeddings_input_dim=32 + 6 * 8, norm_num_groups=8,
                          conditioning_embedding_out_channels=(8, 8, 16, 16))
    state = net.state_dict()
    back = original_to_diffusers(diffusers_to_original(state, 1))
    family, config = infer_config(shapes_of(back), {"attention_head_dim": [2, 2, 4], "norm_num_groups": 8,
                                                    "addition_time_embed_dim": 8})
    assert family == "sdxl" and config["transformer_layers_per_block"][1:] == [0, 1]
    assert ControlNetModel.from_config(config).state_dict().keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
