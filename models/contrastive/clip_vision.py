"""CLIP / SigLIP vision encoders (``CLIP_VISION``) and their outputs (``CLIP_VISION_OUTPUT``).

Loads a transformers folder (``config.json`` + safetensors, with its image processor) or a single
safetensors file in the transformers key layout (``vision_model.*``, ``visual_projection.*``, as
ComfyUI's ``clip_vision`` files are). For a single file the config comes from a JSON ``config``
entry in the safetensors metadata when present, otherwise it is inferred from tensor shapes.

Shared with the IP-Adapter nodes: they consume :class:`CLIPVision` and :class:`CLIPVisionOutput`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely
from models.vision_language.images import tensor_to_pil_images

CROP_MODES = ("center", "none")
# Attention heads of the known vision towers, by width (the head count is not in the tensor shapes).
_HEADS_BY_WIDTH = {768: 12, 1024: 16, 1152: 16, 1280: 16, 1664: 16}


@dataclass
class CLIPVisionOutput:
    """What ``CLIPVisionEncode`` returns. Tensors are on the CPU, in the model's dtype."""
    image_embeds: Any  # [B, projection_dim] (the pooled output for towers without a projection)
    last_hidden_state: Any  # [B, tokens, hidden]
    penultimate_hidden_states: Any  # [B, tokens, hidden]: hidden_states[-2], what IP-Adapter Plus uses
    pixel_values: Any  # [B, 3, S, S]: the normalised input actually encoded

    def __getitem__(self, key: str) -> Any:  # ComfyUI-style dict access: output["image_embeds"]
        return getattr(self, key)


class CLIPVision:
    """A vision tower with its image processor. ``encode`` turns IMAGE tensors into embeddings."""

    def __init__(self, model: Any, processor: Any, name: str = "", manager: Any = None):
        self.model = model
        self.processor = processor
        self.name = name
        self.manager = manager  # ModelManager or None (then compute stays where the weights are)

    def torch_modules(self) -> list:
        return [self.model]

    @property
    def image_size(self) -> int:
        return int(self.model.config.image_size)

    def preprocess(self, image: Any, crop: str = "center") -> Any:
        """``pixel_values`` for an IMAGE batch. ``center`` crops the central square; ``none``
        squashes the whole image to a square."""
        from PIL import Image

        if crop not in CROP_MODES:
            raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
        size = self.image_size
        pictures = []
        for picture in tensor_to_pil_images(image):
            if crop == "center":
                side = min(picture.size)
                left, top = (picture.width - side) // 2, (picture.height - side) // 2
                picture = picture.crop((left, top, left + side, top + side))
            pictures.append(picture.resize((size, size), Image.BICUBIC))
        return self.processor(images=pictures, return_tensors="pt")["pixel_values"]

    def encode(self, image: Any, crop: str = "center") -> CLIPVisionOutput:
        return self.encode_pixel_values(self.preprocess(image, crop))

    def encode_pixel_values(self, pixel_values: Any) -> CLIPVisionOutput:
        """Encode already normalised ``pixel_values`` [B, 3, S, S] (e.g. the all-zero input that IP-Adapter
        Plus takes as its unconditional image)."""
        import torch

        with self._placed() as device, torch.inference_mode():
            dtype = next(self.model.parameters()).dtype
            out = self.model(pixel_values=pixel_values.to(device, dtype), output_hidden_states=True)
        embeds = getattr(out, "image_embeds", None)
        if embeds is None:
            embeds = out.pooler_output
        return CLIPVisionOutput(image_embeds=embeds.cpu(), last_hidden_state=out.last_hidden_state.cpu(),
                                penultimate_hidden_states=out.hidden_states[-2].cpu(),
                                pixel_values=pixel_values)

    def _placed(self):
        import contextlib

        if self.manager is not None:
            return self.manager.on_device(self.model)
        return contextlib.nullcontext(next(self.model.parameters()).device)


# -- loading ----------------------------------------------------------------------------------
def load_clip_vision(path: str | Path, dtype: Any = None, manager: Any = None) -> CLIPVision:
    path = Path(path)
    if path.is_dir():
        model, processor = _load_folder(path, dtype)
    elif path.suffix.lower() in (".safetensors", ".sft"):
        model, processor = _load_single_file(path, dtype)
    else:
        raise ValueError(f"{path.name}: a CLIP vision model must be a transformers folder or a .safetensors file")
    return CLIPVision(model.eval(), processor, name=path.name, manager=manager)


def _load_folder(folder: Path, dtype: Any) -> tuple[Any, Any]:
    from transformers import AutoConfig, AutoImageProcessor

    config = AutoConfig.from_pretrained(folder)
    model_class = _vision_class(config.model_type)
    kwargs = {"dtype": dtype} if dtype is not None else {}
    model = from_pretrained_safely(model_class, folder, **kwargs)
    try:
        processor = AutoImageProcessor.from_pretrained(folder)
    except (OSError, ValueError):
        processor = _default_processor(config.model_type, model.config)
    return model, processor


def _vision_class(model_type: str) -> Any:
    import transformers

    if model_type in ("clip", "clip_vision_model"):
        return transformers.CLIPVisionModelWithProjection
    if model_type in ("siglip", "siglip_vision_model", "siglip2", "siglip2_vision_model"):
        return transformers.Siglip2VisionModel if model_type.startswith("siglip2") else transformers.SiglipVisionModel
    raise ValueError(f"unsupported CLIP vision model type {model_type!r} (expected CLIP or SigLIP)")


def _default_processor(model_type: str, config: Any) -> Any:
    import transformers

    size = int(config.image_size)
    if model_type.startswith("siglip"):
        return transformers.SiglipImageProcessorPil(size={"height": size, "width": size})
    return transformers.CLIPImageProcessorPil(size={"shortest_edge": size},
                                              crop_size={"height": size, "width": size})


def _load_single_file(path: Path, dtype: Any) -> tuple[Any, Any]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    state = load_file(str(path))
    state = _with_tower_prefix({k.removeprefix("clip_vision."): v for k, v in state.items()})
    if "config" in metadata:
        raw = json.loads(metadata["config"])
        model_type = raw.get("model_type", "clip_vision_model")
        config = _config_class(model_type)(**{k: v for k, v in raw.items() if k != "model_type"})
    else:
        model_type, config = _infer_config(state, path.name)
    model = _vision_class(model_type)(config)
    expected = set(model.state_dict())
    state = {(k if k in expected else k.removeprefix("vision_model.")): v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise ValueError(f"{path.name} does not match a {type(model).__name__}: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    if dtype is not None:
        model = model.to(dtype)
    return model, _default_processor(model_type, config)


_TOWER_PARTS = ("embeddings.", "encoder.", "pre_layrnorm.", "post_layernorm.", "head.")


def _with_tower_prefix(state: dict) -> dict:
    """Keys as ``vision_model.*`` whether the file was saved from the tower or from its wrapper."""
    return {("vision_model." + k if k.startswith(_TOWER_PARTS) else k): v for k, v in state.items()}


def _config_class(model_type: str) -> Any:
    import transformers

    return transformers.SiglipVisionConfig if model_type.startswith("siglip") else transformers.CLIPVisionConfig


def _infer_config(state: dict, file_name: str) -> tuple[str, Any]:
    import transformers

    patch = state.get("vision_model.embeddings.patch_embedding.weight")
    if patch is None:
        raise ValueError(f"{file_name}: no 'vision_model.embeddings.patch_embedding.weight'; only the "
                         "transformers key layout of CLIP/SigLIP vision towers is supported")
    hidden, _, patch_size, _ = patch.shape
    positions = state["vision_model.embeddings.position_embedding.weight"].shape[0]
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("vision_model.encoder.layers."))
    intermediate = state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]
    heads = _HEADS_BY_WIDTH.get(hidden, max(1, hidden // 64))
    is_clip = "vision_model.embeddings.class_embedding" in state
    grid = round((positions - (1 if is_clip else 0)) ** 0.5)
    common = dict(hidden_size=hidden, intermediate_size=intermediate, num_hidden_layers=layers,
                  num_attention_heads=heads, patch_size=patch_size, image_size=grid * patch_size)
    if is_clip:
        projection = state.get("visual_projection.weight")
        return "clip_vision_model", transformers.CLIPVisionConfig(
            **common, projection_dim=projection.shape[0] if projection is not None else hidden,
            hidden_act="gelu" if hidden >= 1280 else "quick_gelu")
    return "siglip_vision_model", transformers.SiglipVisionConfig(
        **common, vision_use_head="vision_model.head.probe" in state)
