"""The diffusers -> LDM conversion written for the demo is the exact inverse of diffusers' own
LDM -> diffusers converters (identical tensors after a round trip), for SD 1.5 and SDXL U-Nets,
the VAE and OpenCLIP-G; the shape-read U-Net config equals the model's."""
from __future__ import annotations

import pytest
import torch

from models.demo.stable_diffusion import UNET_HINTS, build_tiny_unet_pipeline


@pytest.fixture(scope="module", params=["sd15", "sdxl_base"])
def components(request):
    return request.param, build_tiny_unet_pipeline(request.param)


def test_unet_round_trip_and_config(components):
    from models.sd3.configs import shapes_of
    from models.stable_diffusion import configs, layout

    variant, parts = components
    unet = parts["unet"]
    state = unet.state_dict()
    original = layout.unet_from_diffusers(state, dict(unet.config))
    assert all(not k.startswith(("down_blocks", "up_blocks", "mid_block")) for k in original)
    inferred = configs.infer_unet_config(shapes_of(original), variant, UNET_HINTS[variant])
    depths = unet.config["transformer_layers_per_block"]
    depths = list(depths) if isinstance(depths, (list, tuple)) else [depths] * len(inferred["block_out_channels"])
    attention = ["CrossAttn" in kind for kind in inferred["down_block_types"]]
    assert [d for d, a in zip(inferred.pop("transformer_layers_per_block"), attention) if a] == \
        [d for d, a in zip(depths, attention) if a]  # a level without attention has no depth to read
    levels = len(attention)

    def per_level(value):  # diffusers accepts one value for every level or a list
        return list(value) if isinstance(value, (list, tuple)) else value

    for key, value in inferred.items():
        expected = unet.config[key]
        if key == "attention_head_dim" and not isinstance(expected, (list, tuple)):
            expected = [expected] * levels
        assert per_level(value) == per_level(expected), key
    back = layout.unet_to_diffusers(original, dict(unet.config))
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)


def test_open_clip_round_trip(components):
    from models.stable_diffusion import layout

    variant, parts = components
    if variant != "sdxl_base":
        pytest.skip("OpenCLIP-G is SDXL's")
    state = {k: v for k, v in parts["text_encoder_2"].state_dict().items() if not k.endswith("position_ids")}
    original = layout.clip_g_from_diffusers(state)
    assert any(k.endswith("attn.in_proj_weight") for k in original) and "text_projection" in original
    back = layout.clip_g_to_diffusers({layout.SDXL_CLIP_G_PREFIX + k: v for k, v in original.items()},
                                      layout.SDXL_CLIP_G_PREFIX)
    assert back.keys() == state.keys()
    assert all(torch.equal(back[k], state[k]) for k in state)
