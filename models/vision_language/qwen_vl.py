"""Qwen2-VL, Qwen2.5-VL and Qwen3-VL: dynamic resolution (a picture becomes as many patches as its
size needs), M-RoPE, and grounding boxes in replies.

transformers' Qwen processors cannot be built without torchvision (they hold a video processor),
so :class:`QwenVLProcessor` does their documented job from the tokenizer and the torchvision-free
image processor: render the chat template, expand each ``<|image_pad|>`` (``<|video_pad|>``) to
``t*h*w / merge_size**2`` tokens, and mark those tokens in ``mm_token_type_ids``. A video is the
image processor's per-frame patches with consecutive frames paired in the temporal axis, as
Qwen2-VL's video processor lays them out. Qwen3-VL sizes a video's frames together (its video
``smart_resize`` counts the frames too) and announces each temporal patch by its time,
``<t seconds>``, before its own vision span.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely
from models.vision_language.placeholders import expand_placeholders
from models.vision_language.processor_files import read_chat_template

IMAGE_TOKEN, VIDEO_TOKEN = "<|image_pad|>", "<|video_pad|>"


class QwenVLProcessor:
    def __init__(self, tokenizer: Any, image_processor: Any, chat_template: str | None,
                 video_settings: dict | None = None):
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.chat_template = chat_template
        self.video_settings = video_settings or {}  # video_preprocessor_config.json (Qwen3-VL's sizes)
        self.image_token = IMAGE_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    @classmethod
    def from_pretrained(cls, path: Path) -> "QwenVLProcessor":
        from transformers import AutoTokenizer, Qwen2VLImageProcessorPil

        tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        image_processor = Qwen2VLImageProcessorPil.from_pretrained(path)
        video_config = path / "video_preprocessor_config.json"
        return cls(tokenizer, image_processor, read_chat_template(path) or tokenizer.chat_template,
                   json.loads(video_config.read_text()) if video_config.is_file() else None)

    def save_pretrained(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)
        if self.video_settings:
            (Path(folder) / "video_preprocessor_config.json").write_text(json.dumps(self.video_settings, indent=2))
        if self.chat_template:
            (Path(folder) / "chat_template.jinja").write_text(self.chat_template)

    def apply_chat_template(self, conversation: list, add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(conversation, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=add_generation_prompt)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def images(self, pictures: list, texts: list[str], min_pixels: int = 0, max_pixels: int = 0) -> Any:
        """``min_pixels``/``max_pixels`` (0: the model's own) bound the area each picture is resized to."""
        vision = self.image_processor(images=pictures, return_tensors="pt",
                                      size=self.resize_bounds(min_pixels, max_pixels))
        return self._with_text(vision, "image_grid_thw", IMAGE_TOKEN, texts)

    def resize_bounds(self, min_pixels: int = 0, max_pixels: int = 0) -> dict:
        """The image processor's ``size`` ({shortest_edge: min area, longest_edge: max area}) with
        the given bounds in place of the model's."""
        size = dict(self.image_processor.size)
        low = int(min_pixels) or size["shortest_edge"]
        high = int(max_pixels) or size["longest_edge"]
        if low > high:
            raise ValueError(f"min_pixels ({low}) is more than max_pixels ({high})")
        return {"shortest_edge": low, "longest_edge": high}

    def videos(self, videos: list[list], texts: list[str], fps: float, video_style: str) -> Any:
        """``video_style``: "plain" (Qwen2-VL), "timed" (Qwen2.5-VL: seconds per temporal patch as an
        input) or "timestamps" (Qwen3-VL: each temporal patch's time written in the prompt)."""
        import numpy as np
        import torch

        pixel_values, grids = [], []
        for frames in videos:
            patches, grid = self._video_patches(list(frames), video_style == "timestamps")
            pixel_values.append(patches)
            grids.append(grid)
        vision = {"pixel_values_videos": torch.from_numpy(np.concatenate(pixel_values)),
                  "video_grid_thw": torch.tensor(grids, dtype=torch.long)}
        if video_style == "timed":  # Qwen2.5-VL spaces temporal positions by the seconds each temporal patch spans
            vision["second_per_grid_ts"] = torch.tensor(
                [self.image_processor.temporal_patch_size / fps] * len(videos), dtype=torch.float32)
        if video_style == "timestamps":
            spans = [self._timestamped_span(len(frames), grid, fps) for frames, grid in zip(videos, grids)]
            return self._encode(expand_placeholders(texts, VIDEO_TOKEN, spans), vision)
        return self._with_text(vision, "video_grid_thw", VIDEO_TOKEN, texts)

    def _timestamped_span(self, frame_count: int, grid: list[int], fps: float) -> str:
        """Qwen3-VL's placeholder for one video: per temporal patch, the mean time of its frames
        (frame i at i / fps; the last frame repeated to fill the patch), then its vision span."""
        temporal = self.image_processor.temporal_patch_size
        times = [index / fps for index in range(frame_count)]
        times += [times[-1]] * (-frame_count % temporal)
        tokens = grid[1] * grid[2] // self.image_processor.merge_size ** 2
        return "".join(f"<{(times[start] + times[start + temporal - 1]) / 2:.1f} seconds>"
                       f"<|vision_start|>{VIDEO_TOKEN * tokens}<|vision_end|>"
                       for start in range(0, len(times), temporal))

    def _video_patches(self, frames: list, sized_as_video: bool = False) -> tuple[Any, list[int]]:
        """Each frame through the image processor (resize, rescale, normalize, patchify, which
        repeats a still picture over the temporal axis), then frame pairs merged along that axis.
        ``sized_as_video``: the frames are first resized together as Qwen3-VL's video processor
        does (PIL bicubic here), and the image processor only rescales and normalises them."""
        processor = self.image_processor
        temporal = processor.temporal_patch_size
        if len({frame.size for frame in frames}) != 1:
            raise ValueError("the frames of a video must all have the same size")
        options: dict = {}
        if sized_as_video:
            frames, options = self._sized_as_video(frames)
        frames = frames + [frames[-1]] * (-len(frames) % temporal)  # pad with the last frame
        per_frame = processor(images=frames, return_tensors="np", **options)
        _, grid_h, grid_w = (int(v) for v in per_frame["image_grid_thw"][0])
        patches = per_frame["pixel_values"]
        channels = patches.shape[1] // (temporal * processor.patch_size ** 2)
        spatial = grid_h * grid_w
        steps = len(frames) // temporal
        patches = patches.reshape(len(frames), spatial, channels, temporal, -1)[:, :, :, 0]
        patches = patches.reshape(steps, temporal, spatial, channels, -1).transpose(0, 2, 3, 1, 4)
        return patches.reshape(steps * spatial, -1), [steps, grid_h, grid_w]

    def _sized_as_video(self, frames: list) -> tuple[list, dict]:
        """Frames resized with Qwen3-VL's video ``smart_resize`` (it counts the frames in the pixel
        budget), and the image processor options that keep that size and use the video's statistics."""
        from PIL import Image
        from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor, smart_resize

        processor, settings = self.image_processor, self.video_settings
        size = settings.get("size") or Qwen3VLVideoProcessor.size
        width, height = frames[0].size
        factor = processor.patch_size * processor.merge_size
        temporal = processor.temporal_patch_size  # a one-frame video is sized as its padded pair
        resized_height, resized_width = smart_resize(max(len(frames), temporal), height, width, temporal, factor,
                                                     size["shortest_edge"], size["longest_edge"])
        frames = [frame.convert("RGB").resize((resized_width, resized_height), Image.BICUBIC) for frame in frames]
        return frames, {"do_resize": False,
                        "image_mean": settings.get("image_mean") or list(Qwen3VLVideoProcessor.image_mean),
                        "image_std": settings.get("image_std") or list(Qwen3VLVideoProcessor.image_std)}

    def _with_text(self, vision: dict, grid_key: str, token: str, texts: list[str]) -> Any:
        """Each placeholder, in order across the texts, expanded to its picture's token count."""
        merge = self.image_processor.merge_size ** 2
        counts = [int(grid.prod()) // merge for grid in vision[grid_key]]
        return self._encode(expand_placeholders(texts, token, [token * count for count in counts]), vision)

    def _encode(self, expanded: list[str], vision: dict) -> Any:
        from transformers import BatchFeature

        encoded = self.tokenizer(expanded, return_tensors="pt", padding=True)
        ids = encoded["input_ids"]
        token_types = (ids == self.image_token_id).long() + 2 * (ids == self.video_token_id).long()
        return BatchFeature({**encoded, "mm_token_type_ids": token_types, **vision})


class QwenVLFamily:
    """Qwen2-VL (boxes in per-mille coordinates), Qwen2.5-VL (boxes in the pixels of the resized
    input), Qwen3-VL (per-mille again; its video prompts carry each temporal patch's time)."""

    name = "qwen_vl"
    multi_image = True
    supports_video = True
    options: tuple[str, ...] = ("min_pixels", "max_pixels")  # the resize bounds of each picture

    def __init__(self, class_name: str, box_format: str, video_style: str = "plain"):
        self.class_name = class_name
        self.box_format = box_format
        self.video_style = video_style  # see QwenVLProcessor.videos

    def plain_prompt(self, prompt: str) -> str:
        return (f"<|im_start|>user\n<|vision_start|>{IMAGE_TOKEN}<|vision_end|>{prompt}<|im_end|>\n"
                f"<|im_start|>assistant\n")

    def box_space(self, processor: Any, width: int, height: int, min_pixels: int = 0,
                  max_pixels: int = 0) -> tuple[float, float]:
        if self.box_format == "per_mille":
            return 1000.0, 1000.0
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

        image_processor = processor.image_processor
        bounds = processor.resize_bounds(min_pixels, max_pixels)
        resized_h, resized_w = smart_resize(height, width, factor=image_processor.patch_size * image_processor.merge_size,
                                            min_pixels=bounds["shortest_edge"], max_pixels=bounds["longest_edge"])
        return float(resized_w), float(resized_h)

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        import transformers

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(getattr(transformers, self.class_name), path, **kwargs).eval()
        return model, QwenVLProcessor.from_pretrained(path)

    def encode(self, processor: QwenVLProcessor, pictures: list, texts: list[str], min_pixels: int = 0,
               max_pixels: int = 0) -> Any:
        return processor.images(pictures, texts, min_pixels, max_pixels)

    def encode_video(self, processor: QwenVLProcessor, videos: list[list], texts: list[str], fps: float) -> Any:
        return processor.videos(videos, texts, fps, self.video_style)
