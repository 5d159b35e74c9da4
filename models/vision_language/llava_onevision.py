"""LLaVA-OneVision: SigLIP features through a projector into a Qwen2 language model, for one image
(AnyRes tiling, at most ``anyres_max_N`` tiles' worth of features), several images (one square view
each) or a video (each frame one view, its features pooled 2x2, one newline feature at the end).

The first choice for video (Video-LLaVA, ``video_llava.py``, is supported too): transformers ships a
torchvision-free image processor for it (``LlavaOnevisionImageProcessorPil``, the AnyRes tiling
included) and one model serves images, several images and videos of any length.

transformers' ``LlavaOnevisionProcessor`` cannot be built without torchvision (it holds a video
processor), so :class:`OnevisionProcessor` does its documented job from the tokenizer and the PIL
image processor: expand each ``<image>`` to the number of features its picture yields and each
``<video>`` to ``frames * ceil(side / 2)**2 + 1``. A frame is prepared as the video processor
documents (resize to ``size``, rescale, normalise, RGB) with the image processor's own PIL
primitives: it equals the first (whole-picture) view of the AnyRes tiling exactly. (With
torchvision, transformers would resize frames with torch's antialiased bicubic instead of PIL's.)
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely
from models.vision_language.placeholders import expand_placeholders
from models.vision_language.processor_files import read_chat_template, read_json

IMAGE_TOKEN, VIDEO_TOKEN = "<image>", "<video>"


class OnevisionProcessor:
    def __init__(self, tokenizer: Any, image_processor: Any, chat_template: str | None, num_image_tokens: int,
                 vision_feature_select_strategy: str = "full", vision_aspect_ratio: str = "anyres_max_9",
                 video_settings: dict | None = None):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.chat_template = chat_template
        self.num_image_tokens = int(num_image_tokens)  # features of one view
        self.vision_feature_select_strategy = vision_feature_select_strategy
        self.vision_aspect_ratio = vision_aspect_ratio
        self.video_settings = video_settings or {}
        self.image_token, self.video_token = IMAGE_TOKEN, VIDEO_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    @classmethod
    def from_pretrained(cls, path: Path, config: Any) -> "OnevisionProcessor":
        from transformers import AutoTokenizer, LlavaOnevisionImageProcessorPil

        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        image_processor = LlavaOnevisionImageProcessorPil.from_pretrained(path)
        settings = read_json(path / "processor_config.json")
        vision = config.vision_config
        side = vision.image_size // vision.patch_size
        return cls(tokenizer, image_processor, read_chat_template(path) or tokenizer.chat_template,
                   settings.get("num_image_tokens") or side * side,
                   settings.get("vision_feature_select_strategy") or config.vision_feature_select_strategy,
                   settings.get("vision_aspect_ratio") or config.vision_aspect_ratio,
                   read_json(path / "video_preprocessor_config.json"))

    def save_pretrained(self, folder: Path) -> None:
        """The files transformers' own processor reads (processor, video processor, chat template)."""
        folder = Path(folder)
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)
        (folder / "processor_config.json").write_text(json.dumps({
            "processor_class": "LlavaOnevisionProcessor", "num_image_tokens": self.num_image_tokens,
            "vision_feature_select_strategy": self.vision_feature_select_strategy,
            "vision_aspect_ratio": self.vision_aspect_ratio}, indent=2))
        if self.video_settings:
            (folder / "video_preprocessor_config.json").write_text(json.dumps(self.video_settings, indent=2))
        if self.chat_template:
            (folder / "chat_template.jinja").write_text(self.chat_template)

    def apply_chat_template(self, conversation: list, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    # -- images --------------------------------------------------------------------------------
    def images(self, pictures: list, texts: list[str]) -> Any:
        """One batch: each text's ``<image>`` placeholders take the next pictures, in order."""
        counts = [text.count(IMAGE_TOKEN) for text in texts]
        if sum(counts) != len(pictures):
            raise ValueError(f"{len(pictures)} pictures for {sum(counts)} {IMAGE_TOKEN} placeholders")
        groups, start = [], 0
        for count in counts:
            groups.append(list(pictures[start:start + count]))
            start += count
        vision = self.image_processor(images=[group for group in groups if group], return_tensors="pt")
        view_height, view_width = (int(v) for v in vision["pixel_values"].shape[-2:])
        token_counts = []
        for group in groups:
            for picture in group:
                if len(group) == 1:  # one picture: AnyRes tiles
                    tokens = self.single_image_tokens(picture.height, picture.width, view_height, view_width)
                else:  # several: one view each, plus its newline feature
                    tokens = self.num_image_tokens + 1
                token_counts.append(tokens - (self.vision_feature_select_strategy == "default"))
        return self._with_text(dict(vision), IMAGE_TOKEN, token_counts, texts)

    def single_image_tokens(self, height: int, width: int, view_height: int, view_width: int) -> int:
        """Features of one picture tiled AnyRes: the whole-picture view, then the tiles' grid with
        its padding removed (shrunk to at most ``anyres_max_N`` views' worth), one newline per row."""
        from transformers.image_processing_utils import select_best_resolution

        best_height, best_width = select_best_resolution([height, width], self.image_processor.image_grid_pinpoints)
        side = int(math.sqrt(self.num_image_tokens))
        rows, columns = side * (best_height // view_height), side * (best_width // view_width)
        if width / height > columns / rows:  # wider than the grid: padding above and below
            padding = (rows - int(round(height * (columns / width), 7))) // 2
            rows -= 2 * padding
        else:
            padding = (columns - int(round(width * (rows / height), 7))) // 2
            columns -= 2 * padding
        features, newlines = rows * columns, rows
        max_views = int(self.vision_aspect_ratio.removeprefix("anyres_max_"))
        ratio = math.sqrt(rows * columns / (max_views * side ** 2))
        if ratio > 1.1:
            features, newlines = int(rows // ratio) * int(columns // ratio), int(rows // ratio)
        return features + newlines + self.num_image_tokens

    # -- video ---------------------------------------------------------------------------------
    def videos(self, videos: list[list], texts: list[str]) -> Any:
        import numpy as np
        import torch

        if len({len(frames) for frames in videos}) != 1:
            raise ValueError("the videos of one batch must have the same number of frames")
        pixels = np.stack([np.stack([self.frame_pixels(frame) for frame in frames]) for frames in videos])
        side = int(math.sqrt(self.num_image_tokens))
        tokens = len(videos[0]) * math.ceil(side / 2) ** 2 + 1  # pooled 2x2 per frame, one newline
        return self._with_text({"pixel_values_videos": torch.from_numpy(pixels)}, VIDEO_TOKEN,
                               [tokens] * len(videos), texts)

    def frame_pixels(self, frame: Any) -> Any:
        """One frame as the video processor prepares it: RGB, resized to ``size``, rescaled, normalised."""
        from transformers.image_utils import SizeDict

        processor, video = self.image_processor, self.video_settings
        size = video.get("size") or {"height": processor.size["height"], "width": processor.size["width"]}
        image = processor.process_image(frame, do_convert_rgb=True)
        image = processor.resize(image=image, size=SizeDict(height=size["height"], width=size["width"]),
                                 resample=video.get("resample", processor.resample))
        image = processor.rescale(image=image, scale=video.get("rescale_factor", processor.rescale_factor))
        return processor.normalize(image=image, mean=video.get("image_mean", processor.image_mean),
                                   std=video.get("image_std", processor.image_std)).astype("float32")

    def _with_text(self, vision: dict, token: str, counts: list[int], texts: list[str]) -> Any:
        from transformers import BatchFeature

        expanded = expand_placeholders(texts, token, [token * count for count in counts])
        return BatchFeature({**self.tokenizer(expanded, return_tensors="pt", padding=True), **vision})


class LlavaOnevisionFamily:
    name = "llava_onevision"
    supports_video = True
    multi_image = True
    options: tuple[str, ...] = ()

    def plain_prompt(self, prompt: str) -> str:
        return f"<|im_start|>user {IMAGE_TOKEN}\n{prompt}<|im_end|>\n<|im_start|>assistant\n"

    def box_space(self, processor: Any, width: int, height: int) -> None:
        return None

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        from transformers import LlavaOnevisionForConditionalGeneration

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(LlavaOnevisionForConditionalGeneration, path, **kwargs).eval()
        return model, OnevisionProcessor.from_pretrained(path, config)

    def encode(self, processor: OnevisionProcessor, pictures: list, texts: list[str]) -> Any:
        return processor.images(pictures, texts)

    def encode_video(self, processor: OnevisionProcessor, videos: list[list], texts: list[str], fps: float) -> Any:
        return processor.videos(videos, texts)
