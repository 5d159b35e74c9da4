"""ComfyUI's ``comfy.ldm.modules.attention``: the attention functions are real (PyTorch's
scaled dot-product attention); the transformer block classes raise when created.

Layout: ``q``, ``k``, ``v`` are ``[B, tokens, heads * dim]`` (or ``[B, heads, tokens, dim]`` with
``skip_reshape``); the result is ``[B, tokens, heads * dim]`` unless ``skip_output_reshape``.
"""
from __future__ import annotations

from typing import Any

from _unavailable import placeholder_getattr


def optimized_attention(q: Any, k: Any, v: Any, heads: int, mask: Any = None, attn_precision: Any = None,
                        skip_reshape: bool = False, skip_output_reshape: bool = False) -> Any:
    import torch.nn.functional as F

    if skip_reshape:
        batch, _, _, dim_head = q.shape
    else:
        batch, dim_head = q.shape[0], q.shape[-1] // heads
        q, k, v = (t.reshape(batch, -1, heads, dim_head).transpose(1, 2) for t in (q, k, v))
    if mask is not None:
        if mask.ndim == 2:
            mask = mask.unsqueeze(0)
        if mask.ndim == 3:
            mask = mask.unsqueeze(1)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    if skip_output_reshape:
        return out
    return out.transpose(1, 2).reshape(batch, -1, heads * dim_head)


attention_pytorch = attention_basic = attention_split = attention_sub_quad = optimized_attention
optimized_attention_masked = optimized_attention


def optimized_attention_for_device(device: Any = None, mask: bool = False, small_input: bool = False) -> Any:
    return optimized_attention


def get_attn_precision(attn_precision: Any, current_dtype: Any = None) -> Any:
    return attn_precision


__getattr__ = placeholder_getattr(__name__, "ComfyUI's transformer blocks")
