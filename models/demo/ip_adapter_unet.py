"""Tiny random-weight IP-Adapters for the demo SD 1.5 and SDXL checkpoints, in the original format
(``image_proj.*`` + ``ip_adapter.{1,3,5,...}.to_k_ip/to_v_ip``, as h94/IP-Adapter ships them), and the
tiny CLIP ViT image encoder they take (one safetensors file in the transformers key layout, like
ComfyUI's ``clip_vision`` files, its config in the metadata).

RANDOM WEIGHTS: the image prompt changes the picture, but the pictures are noise.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.demo.sd3 import DEMO_LABEL

DEMO_VERSION = 1
CLIP_VISION_FILE = "plexus-demo-clip-vit-tiny-RANDOM.safetensors"
ADAPTERS = {  # file name -> (U-Net variant, kind)
    "plexus-demo-ip-adapter_sd15-tiny-RANDOM.safetensors": ("sd15", "ip-adapter"),
    "plexus-demo-ip-adapter-plus_sd15-tiny-RANDOM.safetensors": ("sd15", "plus"),
    "plexus-demo-ip-adapter_sdxl-tiny-RANDOM.safetensors": ("sdxl_base", "ip-adapter"),
}
STAMP = ".plexus-demo-unet-ip-adapter.json"
# hidden 32 (what plus reads) differs from the projection 24 (what the plain kind reads), so feeding
# the wrong features is an error, as with real encoders
CLIP_VISION_CONFIG = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                          image_size=32, patch_size=8, projection_dim=24, hidden_act="quick_gelu")
PLUS_QUERIES, PLUS_WIDTH, PLUS_HEADS, PLUS_DEPTH = 4, 32, 1, 4  # diffusers fixes depth 4 and 64-wide heads


def build_clip_vision(seed: int = 4) -> tuple[Any, Any]:
    """A tiny ``CLIPVisionModelWithProjection`` and the ``CLIPImageProcessor`` that matches it."""
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**CLIP_VISION_CONFIG)).eval()
    size = CLIP_VISION_CONFIG["image_size"]
    processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return model, processor


def write_clip_vision_file(model: Any, path: Path) -> Path:
    from safetensors.torch import save_file

    config = {"model_type": "clip_vision_model", **CLIP_VISION_CONFIG}
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()
             if not k.endswith("position_ids")}
    save_file(state, str(path), metadata={"plexus.note": DEMO_LABEL, "config": json.dumps(config)})
    return path


def cross_attention_shapes(variant: str) -> list[tuple[int, int]]:
    """(inner width, context width) of each cross-attention layer of the demo U-Net, in order."""
    import torch
    from diffusers import UNet2DConditionModel

    from models.control.ip_adapter_unet import cross_attention_layers
    from models.demo.stable_diffusion import UNET_CONFIGS

    with torch.device("meta"):
        unet = UNet2DConditionModel(**UNET_CONFIGS[variant])
    return [(a.to_k.out_features, a.to_k.in_features) for _, a in cross_attention_layers(unet)]


def build_adapter_state(variant: str, kind: str, seed: int = 6) -> dict:
    """The original-format tensors of a tiny adapter for the demo ``variant`` U-Net."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def linear(out_features: int, in_features: int, gain: float = 1.0) -> torch.Tensor:
        return torch.randn(out_features, in_features, generator=generator) * (gain / in_features ** 0.5)

    def norm(width: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (1 + 0.1 * torch.randn(width, generator=generator), 0.1 * torch.randn(width, generator=generator))

    shapes = cross_attention_shapes(variant)
    context = shapes[0][1]
    state: dict[str, torch.Tensor] = {}
    if kind == "ip-adapter":
        embed = CLIP_VISION_CONFIG["projection_dim"]
        state["image_proj.proj.weight"] = linear(4 * context, embed)
        state["image_proj.proj.bias"] = 0.1 * torch.randn(4 * context, generator=generator)
        state["image_proj.norm.weight"], state["image_proj.norm.bias"] = norm(context)
    else:  # plus: the Resampler, in the original repository's names
        width, inner = PLUS_WIDTH, 64 * PLUS_HEADS
        state["image_proj.latents"] = torch.randn(1, PLUS_QUERIES, width, generator=generator) / width ** 0.5
        state["image_proj.proj_in.weight"] = linear(width, CLIP_VISION_CONFIG["hidden_size"])
        state["image_proj.proj_in.bias"] = 0.1 * torch.randn(width, generator=generator)
        state["image_proj.proj_out.weight"] = linear(context, width)
        state["image_proj.proj_out.bias"] = 0.1 * torch.randn(context, generator=generator)
        state["image_proj.norm_out.weight"], state["image_proj.norm_out.bias"] = norm(context)
        for layer in range(PLUS_DEPTH):
            prefix = f"image_proj.layers.{layer}."
            state[prefix + "0.norm1.weight"], state[prefix + "0.norm1.bias"] = norm(width)
            state[prefix + "0.norm2.weight"], state[prefix + "0.norm2.bias"] = norm(width)
            state[prefix + "0.to_q.weight"] = linear(inner, width)
            state[prefix + "0.to_kv.weight"] = linear(2 * inner, width)
            state[prefix + "0.to_out.weight"] = linear(width, inner, gain=0.5)
            state[prefix + "1.0.weight"], state[prefix + "1.0.bias"] = norm(width)
            state[prefix + "1.1.weight"] = linear(4 * width, width)
            state[prefix + "1.3.weight"] = linear(width, 4 * width, gain=0.5)
    for index, (inner, context_width) in enumerate(shapes):
        slot = 2 * index + 1  # the odd attention-processor slots: the cross-attention layers
        state[f"ip_adapter.{slot}.to_k_ip.weight"] = linear(inner, context_width)
        state[f"ip_adapter.{slot}.to_v_ip.weight"] = linear(inner, context_width, gain=2.0)
    return {k: v.contiguous() for k, v in state.items()}


def demo_present(models_dir: Path) -> bool:
    try:
        version = json.loads((models_dir / STAMP).read_text()).get("version")
    except (OSError, ValueError):
        return False
    return version == DEMO_VERSION and (models_dir / "clip_vision" / CLIP_VISION_FILE).exists() and \
        all((models_dir / "ipadapter" / name).exists() for name in ADAPTERS)


def write_demo_unet_ip_adapter(models_dir: str | Path, force: bool = False) -> list[Path]:
    """Write the tiny CLIP ViT encoder and the SD 1.5 / SDXL IP-Adapters (skipped when present unless
    ``force``)."""
    from safetensors.torch import save_file

    models_dir = Path(models_dir)
    if not force and demo_present(models_dir):
        return []
    for kind in ("clip_vision", "ipadapter"):
        (models_dir / kind).mkdir(parents=True, exist_ok=True)
    written = [write_clip_vision_file(build_clip_vision()[0], models_dir / "clip_vision" / CLIP_VISION_FILE)]
    for seed, (name, (variant, kind)) in enumerate(ADAPTERS.items(), start=6):
        path = models_dir / "ipadapter" / name
        save_file(build_adapter_state(variant, kind, seed=seed), str(path), metadata={"plexus.note": DEMO_LABEL})
        written.append(path)
    (models_dir / STAMP).write_text(json.dumps({"version": DEMO_VERSION, "label": DEMO_LABEL}))
    return written
