"""ControlNet loading, family checks, hint chaining and the preprocessors (no sampling here)."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.fixtures.control import (CONTROLNET_FILE, CONTROLNET_FILE_B, CONTROLNET_FOLDER, CONTROLNET_SD15,
                                    CONTROLNET_WIDE)


def _residuals(net, seed=0):
    gen = torch.Generator().manual_seed(seed)
    cfg = net.config
    x = torch.randn(2, cfg.in_channels, 8, 8, generator=gen)
    hint = torch.randn(2, cfg.in_channels, 8, 8, generator=gen)
    context = torch.randn(2, 5, cfg.joint_attention_dim, generator=gen)
    pooled = torch.randn(2, cfg.pooled_projection_dim, generator=gen)
    with torch.no_grad():
        return net(hidden_states=x, controlnet_cond=hint, encoder_hidden_states=context, pooled_projections=pooled,
                   timestep=torch.tensor([500.0, 500.0]), return_dict=False)[0]


def test_single_file_and_folder_load_the_same_net(control_models):
    from models.control.controlnet_sd3 import load_sd3_controlnet

    from_file = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FILE_B))
    from_folder = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FOLDER))
    assert from_file.inner_dim == from_folder.inner_dim == 32
    for a, b in zip(_residuals(from_file.module), _residuals(from_folder.module)):
        assert torch.equal(a, b)
    assert any(float(r.abs().max()) > 0 for r in _residuals(from_file.module)), "demo nets must act (non-zero)"


def test_config_is_inferred_from_shapes_without_metadata(tmp_path):
    from diffusers import SD3ControlNetModel
    from safetensors.torch import save_file

    from models.control.controlnet_sd3 import load_sd3_controlnet

    torch.manual_seed(0)
    net = SD3ControlNetModel(sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                             attention_head_dim=64, num_attention_heads=1, joint_attention_dim=24,
                             caption_projection_dim=64, pooled_projection_dim=12, pos_embed_max_size=16)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "plain.safetensors"))
    loaded = load_sd3_controlnet(tmp_path / "plain.safetensors")
    for key in ("num_layers", "attention_head_dim", "num_attention_heads", "joint_attention_dim",
                "caption_projection_dim", "pooled_projection_dim", "pos_embed_max_size", "patch_size"):
        assert loaded.config[key] == net.config[key], key
    for a, b in zip(_residuals(net), _residuals(loaded.module)):
        assert torch.equal(a, b)


def test_wrong_family_and_unsafe_files_are_refused(control_models, tmp_path):
    from models.control.controlnet_sd3 import ControlNetFormatError, load_sd3_controlnet

    with pytest.raises(ControlNetFormatError, match="SD1.5/SDXL"):
        load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_SD15))
    folder = tmp_path / "unet-controlnet"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"_class_name": "ControlNetModel"}))
    with pytest.raises(ControlNetFormatError, match="ControlNetModel, not an SD3"):
        load_sd3_controlnet(folder)
    pickle = tmp_path / "net.pth"
    pickle.write_bytes(b"not read")
    with pytest.raises(ControlNetFormatError, match="pickle"):
        load_sd3_controlnet(pickle)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(ControlNetFormatError, match="corrupt.safetensors"):
        load_sd3_controlnet(corrupt)


def test_controlnet_for_another_sd3_variant_is_refused(control_models):
    from diffusers import SD3Transformer2DModel

    from models.control.controlnet_sd3 import ControlNetFormatError, check_controlnet_matches, load_sd3_controlnet
    from models.demo.control import DEMO_TRANSFORMER_CONFIG

    transformer = SD3Transformer2DModel(**DEMO_TRANSFORMER_CONFIG)
    check_controlnet_matches(load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FILE)), transformer)
    wide = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_WIDE))
    with pytest.raises(ControlNetFormatError, match="hidden size is 64.*model's is 32"):
        check_controlnet_matches(wide, transformer)


def _fake_vae(latent_channels=16):
    from types import SimpleNamespace

    config = SimpleNamespace(scaling_factor=1.5, shift_factor=0.0, latent_channels=latent_channels,
                             block_out_channels=[8, 8, 8, 8])
    return SimpleNamespace(encode=None, config=config)


def test_apply_stacks_hints_without_touching_the_input(control_models):
    from models.control.hints import CONTROL_KEY
    from models.control.controlnet_sd3 import load_sd3_controlnet
    from nodes.control.controlnet import controlnet_apply_advanced

    net_a = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FILE))
    net_b = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FOLDER))
    image = torch.rand(1, 64, 64, 3)
    positive = [[torch.zeros(1, 4, 64), {"pooled_output": torch.zeros(1, 48)}]]
    negative = [[torch.zeros(1, 4, 64), {"pooled_output": torch.zeros(1, 48)}]]
    vae = _fake_vae()
    pos1, neg1 = controlnet_apply_advanced(positive, negative, net_a, image, 0.7, 0.0, 1.0, vae)
    pos2, neg2 = controlnet_apply_advanced(pos1, neg1, net_b, image, 1.2, 0.2, 0.9, vae)
    assert CONTROL_KEY not in positive[0][1] and CONTROL_KEY not in negative[0][1]
    hints = pos2[0][1][CONTROL_KEY]
    assert all(a is b for a, b in zip(hints, neg2[0][1][CONTROL_KEY])), "one hint object per apply, shared"
    assert [h.net.name for h in hints] == [CONTROLNET_FILE, CONTROLNET_FOLDER]
    assert [h.strength for h in hints] == [0.7, 1.2] and (hints[1].start_percent, hints[1].end_percent) == (0.2, 0.9)
    assert len(pos1[0][1][CONTROL_KEY]) == 1

    from nodes.control.controlnet import controlnet_apply_sd3

    pos3, _ = controlnet_apply_sd3(pos2, neg2, net_a, vae, image, 0.5, 0.1, 0.6)
    assert [h.strength for h in pos3[0][1][CONTROL_KEY]] == [0.7, 1.2, 0.5]


def test_apply_refuses_missing_or_foreign_vae_and_bad_ranges(control_models):
    from models.control.controlnet_sd3 import load_sd3_controlnet
    from nodes.control.controlnet import controlnet_apply_advanced

    net = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FILE))
    image = torch.rand(1, 8, 8, 3)
    with pytest.raises(ValueError, match="connect the VAE"):
        controlnet_apply_advanced([], [], net, image, 1.0, 0.0, 1.0, None)
    with pytest.raises(ValueError, match="reads 16-channel SD3 latents but this VAE makes 4-channel"):
        controlnet_apply_advanced([], [], net, image, 1.0, 0.0, 1.0, _fake_vae(4))
    with pytest.raises(ValueError, match="start_percent <= end_percent"):
        controlnet_apply_advanced([], [], net, image, 1.0, 0.8, 0.2, _fake_vae())


def _transformer():
    from diffusers import SD3Transformer2DModel

    from models.demo.control import DEMO_TRANSFORMER_CONFIG

    return SD3Transformer2DModel(**DEMO_TRANSFORMER_CONFIG)


def test_hint_is_encoded_at_the_latent_size_with_a_warning(control_models):
    from diffusers import AutoencoderKL

    from models.control.hints import ControlHint
    from models.control.controlnet_sd3 import load_sd3_controlnet

    torch.manual_seed(0)
    vae = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        block_out_channels=[8, 8, 8, 8], layers_per_block=1, latent_channels=16,
                        norm_num_groups=4, scaling_factor=1.5305, shift_factor=0.0609,
                        use_quant_conv=False, use_post_quant_conv=False).eval()
    net = load_sd3_controlnet(control_models.path("controlnet", CONTROLNET_FILE))
    transformer = _transformer()
    hint = ControlHint(net=net, image=torch.rand(1, 48, 40, 3), vae=vae)
    warnings: list[str] = []
    hint.prepare(transformer, (1, 16, 8, 8), torch.device("cpu"), torch.float32, warnings.append)
    assert len(warnings) == 1 and "40x48" in warnings[0] and "64x64" in warnings[0]
    (latent,) = hint.encoded.values()
    assert latent.shape == (1, 16, 8, 8)
    hint.prepare(transformer, (1, 16, 8, 8), torch.device("cpu"), torch.float32, warnings.append)
    assert len(warnings) == 1, "encoded once per latent size"
    exact = ControlHint(net=net, image=torch.rand(1, 64, 64, 3), vae=vae)
    exact.prepare(transformer, (1, 16, 8, 8), torch.device("cpu"), torch.float32, warnings.append)
    assert len(warnings) == 1, "no warning when the sizes match"


# -- preprocessors ----------------------------------------------------------------------------
def _square(size=48, inner=0.9, outer=0.1):
    image = torch.full((1, size, size, 3), outer)
    image[:, size // 4: 3 * size // 4, size // 4: 3 * size // 4, :] = inner
    return image


def test_canny_finds_the_square_edges_and_honours_thresholds():
    from nodes.control.preprocessors import canny

    edges = canny(_square(), 0.2, 0.5)[0]
    assert edges.shape == (1, 48, 48, 3) and torch.equal(edges[..., 0], edges[..., 2])
    mask = edges[0, ..., 0] > 0.5
    assert mask[12:36, 11:13].any() and mask[11:13, 12:36].any(), "the square's borders are edges"
    assert not mask[:8, :8].any() and not mask[20:28, 20:28].any(), "flat areas have no edges"
    faint = canny(_square(inner=0.25, outer=0.2), 0.01, 0.02)[0]
    assert faint.sum() > 0
    assert canny(_square(inner=0.25, outer=0.2), 0.9, 0.95)[0].sum() == 0


def test_blur_grayscale_and_lineart():
    from nodes.control.preprocessors import blur_preprocessor, grayscale_preprocessor, lineart_lite_preprocessor

    noisy = torch.rand(1, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    blurred = blur_preprocessor(noisy, 4, 2.0, 1)[0]
    assert blurred.shape == noisy.shape and blurred.std() < noisy.std() / 2
    assert abs(float(blurred.mean() - noisy.mean())) < 0.02
    tiled = blur_preprocessor(noisy, 1, 0.5, 4)[0]
    assert tiled.std() < noisy.std()

    colour = torch.zeros(1, 4, 4, 3)
    colour[..., 0] = 1.0
    gray = grayscale_preprocessor(colour)[0]
    assert torch.allclose(gray[..., 0], gray[..., 1]) and abs(float(gray[0, 0, 0, 0]) - 76 / 255) < 0.01

    page = torch.ones(1, 32, 32, 3)
    page[:, 15:17, :, :] = 0.0  # a dark horizontal line on white paper
    lines = lineart_lite_preprocessor(page, 9, 4.0, True)[0][0, ..., 0]
    assert lines[15:17, 4:28].mean() > 0.9 and lines[:10].mean() < 0.05
    dark_on_white = lineart_lite_preprocessor(page, 9, 4.0, False)[0][0, ..., 0]
    assert dark_on_white[15:17, 4:28].mean() < 0.1
    np.testing.assert_array_equal(gray.shape, colour.shape)
