"""Fuyu: a decoder-only model with no vision encoder. The picture is cut into patches, each patch
is linearly projected into the language model's embedding space, and the patches sit in the token
stream row by row, each row ended by an image-newline token, so any resolution works.

transformers' ``FuyuProcessor`` cannot be used as is: with the torchvision-free image processor it
hands torch tensors to a numpy patchifier, and it strips the first token of the placeholder text on
the assumption that the tokenizer prepends a word marker. :class:`FuyuInputs` builds the same
inputs from the documented layout instead (the tests compare it with ``FuyuProcessor``):

- the picture through ``FuyuImageProcessorPil``: scaled down (never up) to fit ``size``, padded,
  rescaled and normalised; then cropped to the patch multiples that cover the unpadded picture;
- ``|SPEAKER|`` (one per patch) rows, each followed by ``|NEWLINE|``, then the BOS token, then the
  prompt, then ``<0x04>`` (beginning of answer);
- prompts left-padded with token 0; the patches of all pictures concatenated in order, one row of
  ``pixel_values`` per ``|SPEAKER|`` token.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from models.pickle_guard import from_pretrained_safely

IMAGE_TOKEN, NEWLINE_TOKEN = "|SPEAKER|", "|NEWLINE|"
BEGINNING_OF_ANSWER = "<0x04>"
PAD_TOKEN_ID = 0  # what FuyuProcessor pads with


class FuyuInputs:
    """Tokenizer + image processor of a Fuyu folder, with the ``processor`` attributes ``VLM`` uses."""

    chat_template = None  # Fuyu has no conversation format: the prompt is the text itself

    def __init__(self, tokenizer: Any, image_processor: Any):
        tokenizer.pad_token_id = PAD_TOKEN_ID
        tokenizer.padding_side = "left"
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_token = IMAGE_TOKEN
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
        self.newline_token_id = tokenizer.convert_tokens_to_ids(NEWLINE_TOKEN)

    @classmethod
    def from_pretrained(cls, path: Path) -> "FuyuInputs":
        from transformers import FuyuImageProcessorPil
        from transformers.tokenization_utils_tokenizers import TokenizersBackend

        return cls(TokenizersBackend.from_pretrained(path), FuyuImageProcessorPil.from_pretrained(path))

    def save_pretrained(self, folder: Path) -> None:
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)

    def decode(self, *args: Any, **kwargs: Any) -> str:
        return self.tokenizer.decode(*args, **kwargs)

    def patches(self, picture: Any) -> tuple[Any, int, int]:
        """(patches [rows*columns, patch_h*patch_w*3], rows, columns) of one PIL picture."""
        processor = self.image_processor
        processed = processor(images=[[picture]], return_tensors=None)
        image = processed["images"][0][0]  # [3, H, W], padded to ``size``
        patch_h, patch_w = processor.patch_size["height"], processor.patch_size["width"]
        height = min(image.shape[1], math.ceil(processed["image_unpadded_heights"][0][0] / patch_h) * patch_h)
        width = min(image.shape[2], math.ceil(processed["image_unpadded_widths"][0][0] / patch_w) * patch_w)
        patches = processor.patchify_image(image[:, :height, :width])
        return patches, height // patch_h, width // patch_w

    def __call__(self, pictures: list, texts: list[str]) -> Any:
        import numpy as np
        import torch
        from transformers import BatchFeature

        if len(pictures) != len(texts):
            raise ValueError(f"Fuyu takes one picture per prompt: {len(pictures)} pictures, {len(texts)} prompts")
        rows_of_ids, all_patches = [], []
        for picture, text in zip(pictures, texts):
            patches, rows, columns = self.patches(picture)
            all_patches.append(patches)
            image_ids = ([self.image_token_id] * columns + [self.newline_token_id]) * rows
            if BEGINNING_OF_ANSWER not in text:  # a scored continuation follows it
                text += BEGINNING_OF_ANSWER
            prompt_ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            rows_of_ids.append(image_ids + [self.tokenizer.bos_token_id] + prompt_ids)
        longest = max(len(ids) for ids in rows_of_ids)
        input_ids = torch.full((len(rows_of_ids), longest), PAD_TOKEN_ID, dtype=torch.long)
        attention_mask = torch.zeros((len(rows_of_ids), longest), dtype=torch.long)
        for row, ids in enumerate(rows_of_ids):
            input_ids[row, longest - len(ids):] = torch.tensor(ids)
            attention_mask[row, longest - len(ids):] = 1
        pixel_values = torch.from_numpy(np.concatenate(all_patches).astype(np.float32))
        return BatchFeature({"input_ids": input_ids, "attention_mask": attention_mask, "pixel_values": pixel_values})


class FuyuFamily:
    name = "fuyu"
    supports_video = False
    multi_image = False
    options: tuple[str, ...] = ()

    def plain_prompt(self, prompt: str) -> str:
        return prompt + BEGINNING_OF_ANSWER  # the reply starts after the beginning-of-answer token

    def box_space(self, processor: Any, width: int, height: int) -> None:
        return None

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        from transformers import FuyuForCausalLM

        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = from_pretrained_safely(FuyuForCausalLM, path, **kwargs).eval()
        return model, FuyuInputs.from_pretrained(path)

    def encode(self, processor: FuyuInputs, pictures: list, texts: list[str]) -> Any:
        return processor(pictures, texts)

    def encode_video(self, processor: Any, videos: list[list], texts: list[str], fps: float) -> Any:
        raise ValueError("the Fuyu family does not take videos; use LLaVA-OneVision, Video-LLaVA or Qwen-VL")
