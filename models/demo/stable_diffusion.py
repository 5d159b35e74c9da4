"""Tiny random-weight SD 1.5 and SDXL checkpoints (``models/checkpoints``), an SD 1.5 ControlNet
(``models/controlnet``, diffusers names, config in the metadata) and an SDXL ControlNet in the original
layout (``input_hint_block``, ``zero_convs``..., as ``control_v11p_*`` files) for smoke tests.

RANDOM WEIGHTS: the files prove that SD 1.5 / SDXL graphs run end to end; the images are noise.
Each is one file in the original LDM layout ComfyUI reads (``model.diffusion_model.``,
``first_stage_model.``, ``cond_stage_model.transformer.`` / ``conditioner.embedders.N.``), written
with the diffusers -> LDM conversion of ``models/stable_diffusion/layout.py``; what shapes cannot
tell (head counts, norm groups, tokenizers) is in the safetensors metadata.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.demo.sd3 import DEMO_LABEL, _clip_hints, _encoder_state, _save, _tokenizer_payload, build_clip_tokenizer

DEMO_VERSION = 3
CHECKPOINTS = {"sd15": "plexus-demo-sd15-tiny-RANDOM.safetensors",
               "sdxl_base": "plexus-demo-sdxl-tiny-RANDOM.safetensors"}
CONTROLNET = "plexus-demo-sd15-controlnet-tiny-RANDOM.safetensors"
CONTROLNET_SDXL = "plexus-demo-sdxl-controlnet-original-tiny-RANDOM.safetensors"
STAMP = ".plexus-demo-unet.json"

UNET_CONFIGS: dict[str, dict[str, Any]] = {
    "sd15": dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
                 attention_head_dim=2, norm_num_groups=8),
    "sdxl_base": dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
                      down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                      up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=(1, 2),
                      attention_head_dim=(2, 4), cross_attention_dim=48, use_linear_projection=True,
                      addition_embed_type="text_time", addition_time_embed_dim=8,
                      projection_class_embeddings_input_dim=32 + 6 * 8, norm_num_groups=8),
    "sdxl_refiner": dict(sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
                         block_out_channels=(32, 64), down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                         up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), transformer_layers_per_block=(1, 2),
                         attention_head_dim=(2, 4), cross_attention_dim=32, use_linear_projection=True,
                         addition_embed_type="text_time", addition_time_embed_dim=8,
                         projection_class_embeddings_input_dim=32 + 5 * 8, norm_num_groups=8),
}
UNET_HINTS = {"sd15": {"heads": 2, "norm_num_groups": 8, "sample_size": 8},
              "sdxl_base": {"attention_head_dim": [2, 4], "norm_num_groups": 8, "sample_size": 8,
                            "addition_time_embed_dim": 8},
              "sdxl_refiner": {"attention_head_dim": [2, 4], "norm_num_groups": 8, "sample_size": 8,
                               "addition_time_embed_dim": 8}}
VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 8, 8], layers_per_block=1,
    latent_channels=4, norm_num_groups=4, sample_size=64)
VAE_SCALING = {"sd15": 0.18215, "sdxl_base": 0.13025, "sdxl_refiner": 0.13025}
CLIP_L = dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=3,
              hidden_act="quick_gelu")
CLIP_G = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=3,
              projection_dim=32, hidden_act="gelu")


def build_tiny_unet_pipeline(variant: str, seed: int = 0) -> dict[str, Any]:
    """The components of a tiny StableDiffusionPipeline (sd15) or StableDiffusionXLPipeline (sdxl_base)."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    tokenizer = build_clip_tokenizer()
    ids = dict(vocab_size=len(tokenizer), max_position_embeddings=77,
               bos_token_id=tokenizer.convert_tokens_to_ids("<|startoftext|>"),
               eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
               pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**UNET_CONFIGS[variant])
        vae = AutoencoderKL(**VAE_CONFIG, scaling_factor=VAE_SCALING[variant])
        components: dict[str, Any] = {"unet": unet.eval(), "vae": vae.eval(), "tokenizer": tokenizer}
        if variant == "sd15":
            components["text_encoder"] = CLIPTextModel(CLIPTextConfig(**CLIP_L, **ids)).eval()
        elif variant == "sdxl_refiner":  # OpenCLIP-G alone
            components["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G, **ids)).eval()
            components["tokenizer_2"] = tokenizer
        else:
            components["text_encoder"] = CLIPTextModel(CLIPTextConfig(**CLIP_L, **ids)).eval()
            components["text_encoder_2"] = CLIPTextModelWithProjection(CLIPTextConfig(**CLIP_G, **ids)).eval()
            components["tokenizer_2"] = tokenizer
    components["scheduler"] = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                     beta_schedule="scaled_linear", timestep_spacing="leading",
                                                     steps_offset=1)
    return components


def ldm_tensors(components: dict, variant: str) -> tuple[dict, dict]:
    """(tensors, metadata) of one LDM-layout file holding every component."""
    from models.sd3.layout import vae_from_diffusers
    from models.stable_diffusion import layout

    unet = components["unet"]
    tensors = {layout.UNET_PREFIX + k: v for k, v in layout.unet_from_diffusers(unet.state_dict(),
                                                                                  dict(unet.config)).items()}
    vae = components["vae"]
    vae_state = vae_from_diffusers(vae.state_dict(), len(vae.config.block_out_channels))
    tensors.update({layout.VAE_PREFIX + k: v for k, v in vae_state.items()})
    hints: dict[str, Any] = {"unet": UNET_HINTS[variant], "vae": {"norm_num_groups": 4, "sample_size": 64}}
    metadata = {"plexus.note": DEMO_LABEL}
    if variant != "sdxl_refiner":
        hints["clip_l"] = _clip_hints(components["text_encoder"])
        metadata["plexus.tokenizer.clip_l"] = _tokenizer_payload(components["tokenizer"])
        clip_l_prefix = layout.SD1_CLIP_PREFIX if variant == "sd15" else layout.SDXL_CLIP_L_PREFIX
        # transformers' CLIPTextModel may name its tensors without the ``text_model.`` level LDM files have
        tensors.update({clip_l_prefix + (k if k.startswith("text_model.") else "text_model." + k): v
                        for k, v in _encoder_state(components["text_encoder"]).items()})
    if variant != "sd15":
        encoder = components["text_encoder_2"]
        g_state = layout.clip_g_from_diffusers(_encoder_state(encoder))
        g_prefix = layout.SDXL_CLIP_G_PREFIX if variant == "sdxl_base" else layout.REFINER_CLIP_G_PREFIX
        tensors.update({g_prefix + k: v for k, v in g_state.items()})
        hints["clip_g"] = _clip_hints(encoder)
        metadata["plexus.tokenizer.clip_g"] = _tokenizer_payload(components["tokenizer_2"])
    metadata["plexus.config"] = json.dumps(hints)
    return {k: v.detach().contiguous().clone() for k, v in tensors.items()}, metadata


def build_tiny_controlnet(seed: int = 1, variant: str = "sd15"):
    """A tiny SD 1.5 or SDXL ControlNetModel (for ``UNET_CONFIGS[variant]``); its zero-initialised output
    convolutions get random values so that the hint visibly acts."""
    import torch
    from diffusers import ControlNetModel

    unet_only = ("out_channels", "up_block_types", "sample_size")
    config = {k: v for k, v in UNET_CONFIGS[variant].items() if k not in unet_only}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ControlNetModel(**config, conditioning_embedding_out_channels=(8, 8, 16, 16))
        for module in (*net.controlnet_down_blocks, net.controlnet_mid_block):
            torch.nn.init.normal_(module.weight, std=0.2)
    return net.eval()


def write_controlnet(net, path: Path) -> Path:
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(net.config).items()}
    _save({k: v.detach().contiguous().clone() for k, v in net.state_dict().items()},
          {"plexus.note": DEMO_LABEL, "config": json.dumps(config)}, path)
    return path


CONTROLNET_HINTS = {"sd15": {"heads": 2, "norm_num_groups": 8},
                    "sdxl_base": {"attention_head_dim": [2, 4], "norm_num_groups": 8, "addition_time_embed_dim": 8}}


def write_controlnet_original(net, variant: str, path: Path, prefix: str = "", dtype=None) -> Path:
    """A ControlNetModel in the original LDM names (``input_hint_block``, ``zero_convs``...), as
    ``control_v11p_sd15_*`` files are; what shapes cannot tell is in ``plexus.config``."""
    from models.stable_diffusion.controlnet_layout import diffusers_to_original

    state = diffusers_to_original(net.state_dict(), int(net.config.layers_per_block))
    tensors = {prefix + k: (v if dtype is None else v.to(dtype)).detach().contiguous().clone()
               for k, v in state.items()}
    _save(tensors, {"plexus.note": DEMO_LABEL, "plexus.config": json.dumps({"controlnet": CONTROLNET_HINTS[variant]})},
          path)
    return path


def write_checkpoint(components: dict, variant: str, path: Path) -> Path:
    tensors, metadata = ldm_tensors(components, variant)
    _save(tensors, metadata, path)
    return path


def demo_present(models_dir: Path) -> bool:
    try:
        version = json.loads((models_dir / STAMP).read_text()).get("version")
    except (OSError, ValueError):
        return False
    return version == DEMO_VERSION and all((models_dir / "checkpoints" / n).exists() for n in CHECKPOINTS.values()) \
        and all((models_dir / "controlnet" / n).exists() for n in (CONTROLNET, CONTROLNET_SDXL))


def write_demo_unet(models_dir: Path, force: bool = False) -> list[Path]:
    """Write the tiny SD 1.5 and SDXL checkpoints (skipped when present unless ``force``)."""
    models_dir = Path(models_dir)
    if not force and demo_present(models_dir):
        return []
    written = [write_checkpoint(build_tiny_unet_pipeline(variant), variant, models_dir / "checkpoints" / name)
               for variant, name in CHECKPOINTS.items()]
    written.append(write_controlnet(build_tiny_controlnet(), models_dir / "controlnet" / CONTROLNET))
    written.append(write_controlnet_original(build_tiny_controlnet(seed=2, variant="sdxl_base"), "sdxl_base",
                                             models_dir / "controlnet" / CONTROLNET_SDXL))
    (models_dir / STAMP).write_text(json.dumps({"version": DEMO_VERSION, "label": DEMO_LABEL}))
    return written
