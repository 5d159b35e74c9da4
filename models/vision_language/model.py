"""``VLM``: one vision-language model, whatever its family, behind one API.

A family (LLaVA, BLIP-2, Qwen-VL) is a small :class:`VLMFamily` implementation that knows
how to load its folder and turn pictures (or video frames) and prompts into the model's inputs.
Everything else (chat text, batched streaming generation, interrupt, continuation scoring for
multiple-choice evaluation) is written once here against that protocol.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from models.vision_language.generation import GenerationSettings, TokenCallback, seeded, token_hooks


class VLMFamily(Protocol):
    """How one model family loads and builds its inputs."""

    name: str
    supports_video: bool
    multi_image: bool  # several pictures in one prompt
    options: tuple[str, ...]  # VLMCaption's family-specific options that ``encode`` takes as keywords

    def plain_prompt(self, prompt: str) -> str:
        """The prompt in the family's format, when the processor has no chat template."""

    def box_space(self, processor: Any, width: int, height: int) -> tuple[float, float] | None:
        """The (width, height) that grounding boxes in replies about a ``width`` x ``height``
        picture are expressed in; None when the family does not ground."""

    def load(self, path: Path, config: Any, dtype: Any) -> tuple[Any, Any]:
        """(model, processor) from a transformers folder."""

    def encode(self, processor: Any, pictures: list, texts: list[str]) -> Any:
        """Model inputs for one picture per text, left-padded to one batch."""

    def encode_video(self, processor: Any, videos: list[list], texts: list[str], fps: float) -> Any:
        """Model inputs for one list of frames (PIL images) per text."""


class VisionLanguageModel:
    """A model with its processor (image processor, tokenizer, chat template) and its family."""

    def __init__(self, model: Any, processor: Any, family: VLMFamily, name: str = "", manager: Any = None,
                 model_type: str = ""):
        self.model = model
        self.processor = processor
        self.family = family
        self.name = name
        self.model_type = model_type or getattr(model.config, "model_type", "")  # the family key of VLM_FAMILIES
        self.manager = manager
        self._chat_texts: dict[tuple[str, str], str] = {}  # rendering a template costs ~0.1 ms

    def torch_modules(self) -> list:
        return [self.model]

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.model.config.get_text_config(), "is_encoder_decoder", False))

    @property
    def context_length(self) -> int:
        text_config = self.model.config.get_text_config()
        return int(getattr(text_config, "max_position_embeddings", 0) or 2048)

    # -- prompts and inputs ------------------------------------------------------------------
    def chat_text(self, prompt: str, media: str = "image", count: int = 1) -> str:
        """The prompt in the model's conversation format, with ``count`` image (or one video)
        placeholders before the text.

        A prompt that already contains the image token is taken as a complete raw prompt."""
        image_token = str(getattr(self.processor, "image_token", "") or "")
        if image_token and image_token in prompt:
            return prompt
        cached = self._chat_texts.get((prompt, media, count))
        if cached is not None:
            return cached
        if getattr(self.processor, "chat_template", None):
            content = [{"type": media}] * count + [{"type": "text", "text": prompt}]
            text = self.processor.apply_chat_template([{"role": "user", "content": content}],
                                                      add_generation_prompt=True)
        elif count == 1:
            text = self.family.plain_prompt(prompt)
        else:
            raise ValueError(f"{self.name}: no chat template to place {count} images in the prompt")
        if len(self._chat_texts) >= 64:
            self._chat_texts.clear()
        self._chat_texts[(prompt, media, count)] = text
        return text

    def prepare(self, pictures: Any, prompts: str | Sequence[str], **options: Any) -> Any:
        """Inputs for one PIL image or a list of them (one batch, left-padded); ``options`` are the
        family's own (``family.options``, e.g. Qwen-VL's ``min_pixels``)."""
        pictures = list(pictures) if isinstance(pictures, (list, tuple)) else [pictures]
        prompts = [prompts] * len(pictures) if isinstance(prompts, str) else list(prompts)
        unknown = sorted(set(options) - set(getattr(self.family, "options", ())))
        if unknown:
            raise ValueError(f"{self.name}: the {self.family.name} family does not use {', '.join(unknown)}")
        return self.family.encode(self.processor, pictures, [self.chat_text(p) for p in prompts], **options)

    def prepare_group(self, pictures: Sequence[Any], prompt: str) -> Any:
        """Inputs for one prompt about several PIL images, in order (a batch of one)."""
        pictures = list(pictures)
        if len(pictures) > 1 and not self.family.multi_image:
            raise ValueError(f"{self.name}: the {self.family.name} family takes one image per prompt")
        return self.family.encode(self.processor, pictures, [self.chat_text(prompt, count=len(pictures))])

    def prepare_video(self, frames: list, prompt: str, fps: float) -> Any:
        """Inputs for one video given as a list of PIL frames sampled at ``fps``."""
        if not self.family.supports_video:
            raise ValueError(f"{self.name}: the {self.family.name} family does not take videos; "
                             f"use LLaVA-OneVision, Video-LLaVA or Qwen-VL")
        return self.family.encode_video(self.processor, [frames], [self.chat_text(prompt, "video")], fps)

    def prompt_tokens(self, inputs: Any) -> int:
        return int(inputs["input_ids"].shape[1])

    # -- generation ----------------------------------------------------------------------------
    def generate_batch(self, inputs: Any, settings: GenerationSettings, on_token: TokenCallback | None = None,
                       should_stop: Callable[[], bool] | None = None) -> list[str]:
        """One reply per row of ``inputs``; ``on_token(row, piece, n)`` after each row's token;
        ``should_stop()`` ends generation before the next token."""
        import torch

        hooks = token_hooks(self.tokenizer, self._end_token_ids(), on_token, should_stop)
        with self._placed() as device, torch.inference_mode(), seeded(settings, device):
            output = self.model.generate(**self._on_device(inputs, device), max_new_tokens=settings.max_new_tokens,
                                         stopping_criteria=hooks, pad_token_id=self._pad_token_id(),
                                         **settings.generate_kwargs())
        start = 0 if self.is_encoder_decoder else inputs["input_ids"].shape[1]
        return [self.tokenizer.decode(row, skip_special_tokens=True) for row in output[:, start:]]

    def generate(self, inputs: Any, settings: GenerationSettings, on_text: Callable[[str, int], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> str:
        """The reply of a batch of one; ``on_text(piece, n_tokens)`` after each token."""
        on_token = (lambda row, piece, count: on_text(piece or "", count)) if on_text is not None else None
        return self.generate_batch(inputs, settings, on_token, should_stop)[0]

    # -- scoring (multiple choice) -------------------------------------------------------------
    def score_continuations(self, pictures: Any, prompt: str, continuations: Sequence[str]) -> list[float]:
        """The log-likelihood (sum over tokens, natural log) of each continuation after the chat
        prompt about ``pictures`` (one PIL image or a list): the basis of multiple-choice evaluation."""
        import torch

        pictures = list(pictures) if isinstance(pictures, (list, tuple)) else [pictures]
        prompt_inputs = self.prepare_group(pictures, prompt)
        text = self.chat_text(prompt, count=len(pictures))
        scores = []
        with self._placed() as device, torch.inference_mode():
            for continuation in continuations:
                scores.append(self._continuation_logprob(pictures, text, prompt_inputs, continuation, device))
        return scores

    def _continuation_logprob(self, pictures: list, text: str, prompt_inputs: Any, continuation: str,
                              device: Any) -> float:
        import torch

        if self.is_encoder_decoder:  # the continuation is the decoder's target
            labels = self.tokenizer(continuation, return_tensors="pt").input_ids.to(device)
            logits = self.model(**self._on_device(prompt_inputs, device), labels=labels).logits
            targets = labels
        else:
            prompt_length = prompt_inputs["input_ids"].shape[1]
            inputs = self._on_device(self.family.encode(self.processor, pictures, [text + continuation]), device)
            logits = self.model(**inputs).logits[:, prompt_length - 1:-1]
            targets = inputs["input_ids"][:, prompt_length:]
        if targets.shape[1] == 0:
            raise ValueError(f"the continuation {continuation!r} adds no token to the prompt")
        logprobs = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1))
        return float(logprobs.sum())

    # -- plumbing ------------------------------------------------------------------------------
    def _on_device(self, inputs: Any, device: Any) -> dict:
        dtype = next(self.model.parameters()).dtype
        placed = {}
        for key, value in inputs.items():
            if hasattr(value, "is_floating_point"):
                value = value.to(device, dtype) if value.is_floating_point() else value.to(device)
            placed[key] = value
        return placed

    def _end_token_ids(self) -> set[int]:
        eos = self.model.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return set(eos) if isinstance(eos, (list, tuple)) else ({eos} if eos is not None else set())

    def _pad_token_id(self) -> int | None:
        pad = self.model.generation_config.pad_token_id
        return pad if pad is not None else self.tokenizer.pad_token_id

    def _placed(self):
        if self.manager is not None:
            return self.manager.on_device(self.model)
        return contextlib.nullcontext(next(self.model.parameters()).device)
