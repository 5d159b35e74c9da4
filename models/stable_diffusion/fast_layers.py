"""Cheaper layer calls for diffusers' conv-heavy networks (U-Net, its VAE, ControlNets), mostly on the CPU.

Three measured changes (``docs/performance.md``, ``bench/unet.py``), exact up to float rounding:

- weights in ``torch.channels_last``: oneDNN's convolutions work in NHWC, so a contiguous (NCHW)
  layer reorders its input, output and weights on every call; the layer's output keeps the format,
  so GroupNorm, SiLU and the next conv stay in it.
- small convolutions skip oneDNN: PyTorch sends every batched (batch > 1, as a CFG batch is) 3x3
  convolution to oneDNN, whose fixed per-call cost is several times the arithmetic of a small one
  (few channels on a small grid: the lowest U-Net levels of small images). Those run PyTorch's own
  im2col + GEMM kernel (``thnn_conv2d``) instead; large ones (most of a real SD 1.5 / SDXL run) keep
  oneDNN, which is faster for them.
- attention layers called without extra keyword arguments go straight to their processor: diffusers'
  ``Attention.forward`` builds ``inspect.signature`` of the processor on every call only to filter
  those arguments (a few hundred microseconds per U-Net call on small models).
"""
from __future__ import annotations

import types

import torch

# Measured crossovers (1 thread, fp32, channels_last): below both, thnn_conv2d took 0.3-0.9x oneDNN's
# time; a 16x16 grid with 64 channels (19 M MACs) or 8 -> 8 channels on 64x64 were faster in oneDNN.
SMALL_CONV_AREA = 256  # output height * width
SMALL_CONV_MACS = 10_000_000  # batch * in * out channels * kernel area * output area


class SmallConvOnCPU(torch.nn.Conv2d):
    """A Conv2d whose small float32 CPU calls run ``thnn_conv2d`` (see the module docstring)."""

    def _conv_forward(self, input: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        shape = input.shape  # the cheap tests first: a batch of 1 (a VAE decode) never takes this path
        if len(shape) == 4 and shape[0] > 1 and input.is_cpu and input.dtype == torch.float32:
            out_height = (shape[2] + 2 * self.padding[0] - self.kernel_size[0]) // self.stride[0] + 1
            out_width = (shape[3] + 2 * self.padding[1] - self.kernel_size[1]) // self.stride[1] + 1
            area = out_height * out_width
            if area <= SMALL_CONV_AREA and shape[0] * shape[1] * self.out_channels * self._kernel_area * area \
                    <= SMALL_CONV_MACS:
                return torch._C._nn.thnn_conv2d(input, weight, self.kernel_size, bias, self.stride, self.padding)
        return torch.nn.functional.conv2d(input, weight, bias, self.stride, self.padding, self.dilation, self.groups)


def _routable(conv: torch.nn.Module) -> bool:
    return type(conv) is torch.nn.Conv2d and conv.groups == 1 and conv.padding_mode == "zeros" \
        and not isinstance(conv.padding, str) and tuple(conv.dilation) == (1, 1)


def _attention_forward(self, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                       attention_mask: torch.Tensor | None = None, **cross_attention_kwargs) -> torch.Tensor:
    if cross_attention_kwargs:  # IP-Adapter scales, LoRA scales...: diffusers' filtering by the signature
        return type(self).forward(self, hidden_states, encoder_hidden_states, attention_mask,
                                  **cross_attention_kwargs)
    return self.processor(self, hidden_states, encoder_hidden_states=encoder_hidden_states,
                          attention_mask=attention_mask)


def route_small_convolutions(module: torch.nn.Module) -> torch.nn.Module:
    """Small-conv routing on ``module``'s plain Conv2d layers (in place)."""
    for layer in module.modules():
        if _routable(layer):
            layer.__class__ = SmallConvOnCPU  # same state and hooks; only _conv_forward differs
            layer._kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
    return module


def direct_attention_calls(module: torch.nn.Module) -> torch.nn.Module:
    """Direct processor calls on ``module``'s diffusers ``Attention`` layers (in place)."""
    from diffusers.models.attention_processor import Attention

    for layer in module.modules():
        if type(layer) is Attention:
            layer.forward = types.MethodType(_attention_forward, layer)
    return module


def speed_up(module: torch.nn.Module) -> torch.nn.Module:
    """``module`` in place with all three changes: channels_last weights, small-conv routing, direct
    attention calls. Returns ``module``."""
    module.to(memory_format=torch.channels_last)
    return direct_attention_calls(route_small_convolutions(module))
