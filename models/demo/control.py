"""Tiny random-weight ControlNet, SigLIP vision encoder and IP-Adapter for smoke tests.

RANDOM WEIGHTS: these files only prove that the graph runs; they draw noise, not pictures. They
match the demo SD3 transformer written by ``models/demo/command.py`` (which calls
:func:`write_demo_control`). Building them takes well under a second.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_LABEL = "Plexus demo: RANDOM WEIGHTS for smoke tests, not a real model"
DEMO_CONTROLNET = "demo-sd3-controlnet-random.safetensors"
DEMO_CLIP_VISION = "demo-siglip-vision-random"
DEMO_IP_ADAPTER = "demo-sd3-ip-adapter-random.safetensors"
DEMO_HINT_IMAGE = "plexus-demo-hint.png"  # in input/: shapes with clear edges, for the Canny workflow
DEMO_STYLE_IMAGE = "plexus-demo-style.png"  # in input/: the image prompt of the IP-Adapter workflows

# The demo SD3 transformer (tiny-models.md); the ControlNet and IP-Adapter must fit it.
DEMO_TRANSFORMER_CONFIG: dict[str, Any] = dict(
    sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
    num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=48,
    pos_embed_max_size=32)
SIGLIP_CONFIG: dict[str, Any] = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                     num_attention_heads=4, image_size=32, patch_size=8)
IMAGE_PROJ_CONFIG: dict[str, Any] = dict(embed_dim=32, output_dim=32, hidden_dim=32, depth=4, dim_head=64,
                                         heads=1, num_queries=4, ffn_ratio=4, timestep_in_dim=32)


def _randomize_zero_modules(module: Any, generator: Any, scale: float = 0.05) -> None:
    """A fresh ControlNet's zero-convolutions output exact zeros (the "do no harm" start); give them
    small random values so a demo or test net visibly acts."""
    import torch

    for part in (*module.controlnet_blocks, module.pos_embed_input):
        for param in part.parameters():
            param.data = torch.randn(param.shape, generator=generator) * scale


def build_controlnet(transformer_config: dict | None = None, seed: int = 1, num_layers: int = 1) -> Any:
    """A random SD3ControlNetModel matching a transformer config."""
    import torch
    from diffusers import SD3ControlNetModel

    config = dict(transformer_config or DEMO_TRANSFORMER_CONFIG)
    config.update(num_layers=num_layers, extra_conditioning_channels=0)
    config = {k: v for k, v in config.items() if not k.startswith("_") and k in _controlnet_params()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SD3ControlNetModel(**config)
    _randomize_zero_modules(net, torch.Generator().manual_seed(seed + 1000))
    return net.eval()


def _controlnet_params() -> set[str]:
    import inspect

    from diffusers import SD3ControlNetModel

    return set(inspect.signature(SD3ControlNetModel.__init__).parameters) - {"self"}


def save_controlnet_file(net: Any, file: Path) -> None:
    """A single safetensors file in diffusers keys, with the config in its metadata."""
    from safetensors.torch import save_file

    config = {k: v for k, v in dict(net.config).items() if not k.startswith("_")}
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    save_file(state, str(file), metadata={"config": json.dumps(config), "plexus_demo": DEMO_LABEL})


def build_siglip(seed: int = 2) -> tuple[Any, Any]:
    import torch
    from transformers import SiglipImageProcessorPil, SiglipVisionConfig, SiglipVisionModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SiglipVisionModel(SiglipVisionConfig(**SIGLIP_CONFIG))
    size = SIGLIP_CONFIG["image_size"]
    processor = SiglipImageProcessorPil(size={"height": size, "width": size})
    return model.eval(), processor


def build_ip_adapter_state(transformer_config: dict | None = None, seed: int = 3) -> dict:
    """``image_proj.*`` + ``ip_adapter.{layer}.*`` tensors of a random SD3 IP-Adapter."""
    import torch
    from diffusers.models.attention_processor import SD3IPAdapterJointAttnProcessor2_0
    from diffusers.models.embeddings import IPAdapterTimeImageProjection

    config = transformer_config or DEMO_TRANSFORMER_CONFIG
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    proj_config = dict(IMAGE_PROJ_CONFIG, output_dim=inner)
    state: dict[str, Any] = {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        image_proj = IPAdapterTimeImageProjection(**proj_config)
        for name, tensor in image_proj.state_dict().items():
            state[f"image_proj.{name}"] = tensor.contiguous()
        for layer in range(config["num_layers"]):
            processor = SD3IPAdapterJointAttnProcessor2_0(
                hidden_size=inner, ip_hidden_states_dim=inner, head_dim=config["attention_head_dim"],
                timesteps_emb_dim=proj_config["hidden_dim"])
            for name, tensor in processor.state_dict().items():
                state[f"ip_adapter.{layer}.{name}"] = tensor.contiguous()
    return state


def write_demo_inputs(input_dir: str | Path, force: bool = False) -> list[Path]:
    """Two small synthetic pictures the example workflows load (drawn, not downloaded)."""
    from PIL import Image, ImageDraw

    input_dir = Path(input_dir)
    input_dir.mkdir(parents=True, exist_ok=True)
    written = []
    hint = input_dir / DEMO_HINT_IMAGE
    if force or not hint.exists():
        picture = Image.new("RGB", (320, 256), (200, 210, 225))
        draw = ImageDraw.Draw(picture)
        draw.rectangle((40, 120, 150, 230), fill=(150, 60, 40))
        draw.polygon([(30, 125), (95, 60), (160, 125)], fill=(90, 40, 30))
        draw.ellipse((200, 30, 270, 100), fill=(250, 200, 60))
        draw.rectangle((180, 170, 300, 240), fill=(40, 120, 60))
        picture.save(hint)
        written.append(hint)
    style = input_dir / DEMO_STYLE_IMAGE
    if force or not style.exists():
        picture = Image.new("RGB", (96, 96))
        draw = ImageDraw.Draw(picture)
        for band in range(12):
            draw.rectangle((0, band * 8, 96, band * 8 + 8), fill=(20 * band, 90, 255 - 20 * band))
        draw.ellipse((24, 24, 72, 72), fill=(250, 240, 220))
        picture.save(style)
        written.append(style)
    return written


def write_demo_control(models_dir: str | Path, force: bool = False, transformer_config: dict | None = None,
                       input_dir: str | Path | None = None) -> list[Path]:
    """Write the demo ControlNet, SigLIP vision encoder and IP-Adapter, and the two input pictures
    of the example workflows (into ``input_dir``, by default ``input/`` next to ``models/``).
    Returns what was written. Torch is imported only when something must be built."""
    models_dir = Path(models_dir)
    written: list[Path] = write_demo_inputs(Path(input_dir) if input_dir else models_dir.parent / "input", force)

    controlnet_file = models_dir / "controlnet" / DEMO_CONTROLNET
    if force or not controlnet_file.exists():
        controlnet_file.parent.mkdir(parents=True, exist_ok=True)
        save_controlnet_file(build_controlnet(transformer_config), controlnet_file)
        written.append(controlnet_file)

    vision_dir = models_dir / "clip_vision" / DEMO_CLIP_VISION
    if force or not (vision_dir / "config.json").exists():
        model, processor = build_siglip()
        model.save_pretrained(vision_dir)
        processor.save_pretrained(vision_dir)
        (vision_dir / "README.txt").write_text(DEMO_LABEL + "\n")
        written.append(vision_dir)

    adapter_file = models_dir / "ipadapter" / DEMO_IP_ADAPTER
    if force or not adapter_file.exists():
        from safetensors.torch import save_file

        adapter_file.parent.mkdir(parents=True, exist_ok=True)
        save_file(build_ip_adapter_state(transformer_config), str(adapter_file), metadata={"plexus_demo": DEMO_LABEL})
        written.append(adapter_file)
    return written
