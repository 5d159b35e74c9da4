"""Which family each VLM folder is (read from its ``config.json``, without loading it), and which
families use which of ``VLMCaption``'s family-specific options.

The editors hide an option while the model reaching the node is of a family that does not use it:
``VLMListing`` adds ``choice_families`` (model name -> family) to the loader's combo in
``/object_info``; the option declares its ``families`` (``execution.declare.for_families``).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.folders import ModelListing
from models.vision_language.loader import VLM_FAMILIES


def model_type_of(folder: Path | None) -> str | None:
    """``model_type`` from a transformers folder's config.json; None if it cannot be read."""
    if folder is None:
        return None
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return None
    model_type = config.get("model_type") if isinstance(config, dict) else None
    return model_type if isinstance(model_type, str) else None


class VLMListing(ModelListing):
    """The ``vlm`` models, each listed in ``/object_info`` with its family."""

    def __init__(self) -> None:
        super().__init__("vlm")

    def object_info_options(self, services: Any, choices: list[str]) -> dict:
        families = {}
        for name in choices:
            model_type = model_type_of(services.paths.model_path(self.kind, name))
            if model_type in VLM_FAMILIES:
                families[name] = model_type
        return {"choice_families": families}


def families_with_option(option: str) -> list[str]:
    """The families (``model_type``) whose inputs use ``option`` (their ``options``)."""
    return [model_type for model_type, family in VLM_FAMILIES.items() if option in getattr(family, "options", ())]


def video_families() -> list[str]:
    return [model_type for model_type, family in VLM_FAMILIES.items() if family.supports_video]


def family_label(model_type: str) -> str:
    """A family as users know it, for messages."""
    return {"llava": "LLaVA 1.5", "llava_next": "LLaVA-NeXT", "llava_onevision": "LLaVA-OneVision", "blip-2": "BLIP-2",
            "qwen2_vl": "Qwen2-VL", "qwen2_5_vl": "Qwen2.5-VL", "qwen3_vl": "Qwen3-VL", "fuyu": "Fuyu",
            "video_llava": "Video-LLaVA"}.get(model_type, model_type)
