"""BLIP-2: a Q-Former (learned queries cross-attending to a frozen ViT) in front of OPT
(decoder-only) or Flan-T5 (encoder-decoder). No chat template: BLIP-2 was trained on plain
prompts, "Question: ... Answer:" for VQA, and an empty prompt for captions."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely


class Blip2Family:
    name = "blip2"
    supports_video = False
    multi_image = False
    options: tuple[str, ...] = ()

    def plain_prompt(self, prompt: str) -> str:
        return f"Question: {prompt.strip()} Answer:" if prompt.strip() else ""

    def box_space(self, processor: Any, width: int, height: int) -> None:
        return None

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        from transformers import Blip2ForConditionalGeneration, Blip2Processor

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(Blip2ForConditionalGeneration, path, **kwargs).eval()
        processor = Blip2Processor.from_pretrained(path)
        processor.tokenizer.padding_side = "left"
        return model, processor

    def encode(self, processor: Any, pictures: list, texts: list[str]) -> Any:
        return processor(images=pictures, text=texts, return_tensors="pt", padding=True)

    def encode_video(self, processor: Any, videos: list[list], texts: list[str], fps: float) -> Any:
        raise ValueError("the BLIP-2 family does not take videos; use LLaVA-OneVision, Video-LLaVA or Qwen-VL")
