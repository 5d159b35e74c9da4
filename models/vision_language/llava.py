"""LLaVA 1.5 and LLaVA-NeXT (AnyRes tiling): transformers' own classes and processors."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely


class LlavaFamily:
    name = "llava"
    supports_video = False
    multi_image = True
    options: tuple[str, ...] = ()

    def __init__(self, class_name: str):
        self.class_name = class_name

    def plain_prompt(self, prompt: str) -> str:
        return f"USER: <image>\n{prompt} ASSISTANT:"  # LLaVA 1.5's format

    def box_space(self, processor: Any, width: int, height: int) -> None:
        return None

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        import transformers
        from transformers import AutoProcessor

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(getattr(transformers, self.class_name), path, **kwargs).eval()
        processor = AutoProcessor.from_pretrained(path)
        processor.tokenizer.padding_side = "left"
        return model, processor

    def encode(self, processor: Any, pictures: list, texts: list[str]) -> Any:
        return processor(images=pictures, text=texts, return_tensors="pt", padding=True)

    def encode_video(self, processor: Any, videos: list[list], texts: list[str], fps: float) -> Any:
        raise ValueError("the LLaVA family does not take videos; use LLaVA-OneVision, Video-LLaVA or Qwen-VL")
