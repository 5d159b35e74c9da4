"""Video-LLaVA: one CLIP tower for pictures and one for video frames, projected into a LLaMA-style
language model. A picture gives one feature per patch (its CLS dropped with the "default"
strategy); a video gives every frame's patches plus its CLS, frame after frame (the released
models take 8 frames).

transformers' ``VideoLlavaProcessor`` cannot be built without torchvision (it holds a video
processor), so :class:`VideoLlavaInputs` does its documented job from the tokenizer and the
numpy ``VideoLlavaImageProcessor``: expand ``<image>`` to ``(h/p)*(w/p) + 1 - [default]`` tokens and
``<video>`` to ``frames * ((h/p)*(w/p) + 1)``. Each frame goes through the image processor (resize
the shortest edge, centre crop, rescale, normalise), the video processor's documented steps.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely
from models.vision_language.placeholders import expand_placeholders
from models.vision_language.processor_files import read_chat_template, read_json

IMAGE_TOKEN, VIDEO_TOKEN = "<image>", "<video>"


class VideoLlavaInputs:
    def __init__(self, tokenizer: Any, image_processor: Any, chat_template: str | None, patch_size: int,
                 vision_feature_select_strategy: str = "default", num_additional_image_tokens: int = 1):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.chat_template = chat_template
        self.patch_size = int(patch_size)
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.num_additional_image_tokens = int(num_additional_image_tokens)  # CLS
        self.image_token, self.video_token = IMAGE_TOKEN, VIDEO_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    @classmethod
    def from_pretrained(cls, path: Path, config: Any) -> "VideoLlavaInputs":
        from transformers import AutoTokenizer, VideoLlavaImageProcessor

        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        settings = read_json(path / "processor_config.json")
        chat_template = read_chat_template(path) or tokenizer.chat_template
        return cls(tokenizer, VideoLlavaImageProcessor.from_pretrained(path), chat_template,
                   settings.get("patch_size") or config.vision_config.patch_size,
                   settings.get("vision_feature_select_strategy") or config.vision_feature_select_strategy,
                   settings.get("num_additional_image_tokens", 1))

    def save_pretrained(self, folder: Path) -> None:
        """The files transformers' own processor reads."""
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)
        (folder / "processor_config.json").write_text(json.dumps({
            "processor_class": "VideoLlavaProcessor", "patch_size": self.patch_size,
            "vision_feature_select_strategy": self.vision_feature_select_strategy,
            "num_additional_image_tokens": self.num_additional_image_tokens}, indent=2))
        if self.chat_template:
            (folder / "chat_template.jinja").write_text(self.chat_template)

    def apply_chat_template(self, conversation: list, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def images(self, pictures: list, texts: list[str]) -> Any:
        import torch

        pixels = self._pixels(pictures)
        tokens = self._frame_tokens(pixels) - (self.vision_feature_select_strategy == "default")
        return self._encode(texts, IMAGE_TOKEN, [tokens] * len(pictures), {"pixel_values": torch.from_numpy(pixels)})

    def videos(self, videos: list[list], texts: list[str]) -> Any:
        import numpy as np
        import torch

        if len({len(frames) for frames in videos}) != 1:
            raise ValueError("the videos of one batch must have the same number of frames")
        pixels = np.stack([self._pixels(list(frames)) for frames in videos])
        tokens = len(videos[0]) * self._frame_tokens(pixels[0])
        return self._encode(texts, VIDEO_TOKEN, [tokens] * len(videos),
                            {"pixel_values_videos": torch.from_numpy(pixels)})

    def _pixels(self, pictures: list) -> Any:
        return self.image_processor(images=pictures, return_tensors="np",
                                    return_legacy_image_output=False)["pixel_values"]

    def _frame_tokens(self, pixels: Any) -> int:
        height, width = pixels.shape[-2:]
        return (height // self.patch_size) * (width // self.patch_size) + self.num_additional_image_tokens

    def _encode(self, texts: list[str], token: str, counts: list[int], vision: dict) -> Any:
        from transformers import BatchFeature

        expanded = expand_placeholders(texts, token, [token * count for count in counts])
        return BatchFeature({**self.tokenizer(expanded, return_tensors="pt", padding=True), **vision})


class VideoLlavaFamily:
    name = "video_llava"
    supports_video = True
    multi_image = True
    options: tuple[str, ...] = ()

    def plain_prompt(self, prompt: str) -> str:
        return f"USER: {IMAGE_TOKEN}\n{prompt} ASSISTANT:"

    def box_space(self, processor: Any, width: int, height: int) -> None:
        return None

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        from transformers import VideoLlavaForConditionalGeneration

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(VideoLlavaForConditionalGeneration, path, **kwargs).eval()
        return model, VideoLlavaInputs.from_pretrained(path, config)

    def encode(self, processor: VideoLlavaInputs, pictures: list, texts: list[str]) -> Any:
        return processor.images(pictures, texts)

    def encode_video(self, processor: VideoLlavaInputs, videos: list[list], texts: list[str], fps: float) -> Any:
        return processor.videos(videos, texts)
