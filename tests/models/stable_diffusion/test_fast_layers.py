"""``models/stable_diffusion/fast_layers.py``: the faster layer calls give the plain layers' results (float
rounding), small CPU convolutions take ``thnn_conv2d`` and large ones do not, attention layers skip the
signature filtering only when there is nothing to filter, and layers that cannot be routed stay as
they are. The whole-model fidelity against the diffusers pipelines is ``test_unet_fidelity.py``."""
from __future__ import annotations

import copy
import inspect

import pytest
import torch


def _count_thnn(monkeypatch) -> list:
    calls = []
    original = torch._C._nn.thnn_conv2d

    def counted(*args):
        calls.append(tuple(args[0].shape))
        return original(*args)

    monkeypatch.setattr(torch._C._nn, "thnn_conv2d", counted)
    return calls


@pytest.mark.parametrize("shape, channels, stride, small", [
    ((2, 32, 8, 8), 32, 1, True),  # a tiny U-Net's CFG batch
    ((2, 4, 8, 8), 32, 2, True),
    ((2, 64, 16, 16), 64, 1, False),  # 19 M MACs: oneDNN
    ((1, 8, 64, 64), 8, 1, False),  # a large grid: oneDNN
])
def test_small_convolutions_take_thnn_and_match_the_plain_layer(monkeypatch, shape, channels, stride, small):
    from models.stable_diffusion.fast_layers import SmallConvOnCPU, speed_up

    torch.manual_seed(0)
    plain = torch.nn.Conv2d(shape[1], channels, 3, stride=stride, padding=1)
    fast = speed_up(copy.deepcopy(plain))
    assert type(fast) is SmallConvOnCPU and fast.weight.is_contiguous(memory_format=torch.channels_last)
    x = torch.randn(shape)
    calls = _count_thnn(monkeypatch)
    with torch.inference_mode():
        expected, got = plain(x), fast(x)
    assert bool(calls) == small
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=1e-5, rtol=1e-5)
    assert set(fast.state_dict()) == set(plain.state_dict())


def test_unroutable_convolutions_stay_plain_and_other_dtypes_skip_thnn(monkeypatch):
    from models.stable_diffusion.fast_layers import SmallConvOnCPU, speed_up

    net = speed_up(torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=2, padding=1),
                                       torch.nn.Conv2d(8, 8, 3, dilation=2, padding=2),
                                       torch.nn.Conv2d(8, 8, 3, padding="same"),
                                       torch.nn.Conv2d(8, 8, 3, padding=1, padding_mode="reflect"),
                                       torch.nn.Conv2d(8, 8, 3, padding=1)))
    assert [type(layer) is SmallConvOnCPU for layer in net] == [False, False, False, False, True]
    calls = _count_thnn(monkeypatch)
    with torch.inference_mode():
        net[-1].double()(torch.randn(2, 8, 4, 4, dtype=torch.float64))
    assert calls == []


def test_attention_calls_its_processor_directly_unless_given_arguments_to_filter(monkeypatch):
    from diffusers.models.attention_processor import Attention, IPAdapterAttnProcessor2_0

    from models.stable_diffusion.fast_layers import speed_up

    torch.manual_seed(0)
    plain = Attention(query_dim=16, cross_attention_dim=8, heads=2, dim_head=8)
    fast = speed_up(copy.deepcopy(plain))
    x, context = torch.randn(2, 5, 16), torch.randn(2, 7, 8)
    with torch.inference_mode():
        expected = plain(x, context)
        monkeypatch.setattr(inspect, "signature", lambda *a, **k: pytest.fail("signature built per call"))
        assert torch.allclose(fast(x, context), expected, atol=1e-6)
    monkeypatch.undo()
    # with arguments, diffusers' own forward filters them by the processor's signature
    processor = IPAdapterAttnProcessor2_0(hidden_size=16, cross_attention_dim=8, num_tokens=(2,), scale=1.0)
    plain.set_processor(processor)
    fast.set_processor(copy.deepcopy(processor))
    image_tokens = [torch.randn(2, 1, 2, 8)]
    with torch.inference_mode():
        expected = plain(x, (context, image_tokens), scale=0.5, ignored=1)
        got = fast(x, (context, image_tokens), scale=0.5, ignored=1)
    assert torch.allclose(got, expected, atol=1e-6)
    assert copy.deepcopy(fast).forward.__self__ is not fast


def test_a_whole_tiny_unet_gives_the_plain_output():
    from models.demo.stable_diffusion import build_tiny_unet_pipeline
    from models.stable_diffusion.fast_layers import speed_up

    plain = build_tiny_unet_pipeline("sdxl_base")["unet"]
    fast = speed_up(copy.deepcopy(plain))
    torch.manual_seed(1)
    x, context = torch.randn(2, 4, 8, 8), torch.randn(2, 77, 48)
    added = {"text_embeds": torch.randn(2, 32), "time_ids": torch.randn(2, 6)}
    with torch.inference_mode():
        expected = plain(x, torch.tensor([500.0, 500.0]), context, added_cond_kwargs=added).sample
        got = fast(x, torch.tensor([500.0, 500.0]), context, added_cond_kwargs=added).sample
    assert (got - expected).abs().max() < 1e-5
