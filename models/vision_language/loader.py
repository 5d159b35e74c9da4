"""``load_vlm``: find a folder's family from its config (``model_type``) and load it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from models.vision_language.blip2 import Blip2Family
from models.vision_language.fuyu import FuyuFamily
from models.vision_language.llava import LlavaFamily
from models.vision_language.llava_onevision import LlavaOnevisionFamily
from models.vision_language.model import VisionLanguageModel, VLMFamily
from models.vision_language.qwen_vl import QwenVLFamily
from models.vision_language.video_llava import VideoLlavaFamily

# config.model_type -> family
VLM_FAMILIES: dict[str, VLMFamily] = {
    "llava": LlavaFamily("LlavaForConditionalGeneration"),
    "llava_next": LlavaFamily("LlavaNextForConditionalGeneration"),
    "llava_onevision": LlavaOnevisionFamily(),
    "video_llava": VideoLlavaFamily(),
    "blip-2": Blip2Family(),
    "qwen2_vl": QwenVLFamily("Qwen2VLForConditionalGeneration", "per_mille"),
    "qwen2_5_vl": QwenVLFamily("Qwen2_5_VLForConditionalGeneration", "input_pixels", video_style="timed"),
    "qwen3_vl": QwenVLFamily("Qwen3VLForConditionalGeneration", "per_mille", video_style="timestamps"),
    "fuyu": FuyuFamily(),
}


def load_vlm(path: str | Path, dtype: Any = None, manager: Any = None) -> VisionLanguageModel:
    from transformers import AutoConfig

    path = Path(path)
    if not (path / "config.json").is_file():
        raise ValueError(f"{path.name}: a VLM must be a transformers folder (config.json, safetensors, processor)")
    config = AutoConfig.from_pretrained(path)
    family = VLM_FAMILIES.get(config.model_type)
    if family is None:
        raise ValueError(f"{path.name}: unsupported VLM type {config.model_type!r}; "
                         f"supported: {', '.join(VLM_FAMILIES)}")
    model, processor = family.load(path, config, dtype)
    return VisionLanguageModel(model, processor, family, name=path.name, manager=manager,
                               model_type=config.model_type)
