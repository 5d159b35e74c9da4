"""Asking a vision-language model a benchmark question: by generating and reading the reply, or by
scoring each option's likelihood.

Prompts follow MMBench's and POPE's usual wording. An item with several pictures (MMMU) is shown as
one picture with them side by side, for models that take one image; an item without a picture is
shown a plain grey picture, so that image-less questions can still be asked.

Likelihood mode scores each option's text (after one space) as the model's reply to the prompt:
the sum of its tokens' log-probabilities (``VisionLanguageModel.score_continuations``, for
decoder-only and encoder-decoder families alike).
"""
from __future__ import annotations

from typing import Any, Callable

from models.evaluation.items import LETTERS, MULTIPLE_CHOICE, BenchmarkItem

CHOICE_INSTRUCTION = "Answer with the option's letter from the given choices directly."
YES_NO_INSTRUCTION = "Answer yes or no."


def question_prompt(item: BenchmarkItem, options: tuple[str, ...]) -> str:
    if item.kind != MULTIPLE_CHOICE:
        return f"{item.question} {YES_NO_INSTRUCTION}"
    lines = [item.hint] if item.hint else []
    lines.append(item.question)
    lines.extend(f"{LETTERS[i]}. {text}" for i, text in enumerate(options))
    lines.append(CHOICE_INSTRUCTION)
    return "\n".join(lines)


def compose_pictures(pictures: list[Any]) -> Any:
    """One picture: the item's only one, or all of them side by side (top-aligned, white gaps)."""
    from PIL import Image

    if not pictures:
        return Image.new("RGB", (64, 64), (128, 128, 128))
    if len(pictures) == 1:
        return pictures[0]
    height = max(p.height for p in pictures)
    canvas = Image.new("RGB", (sum(p.width for p in pictures), height), (255, 255, 255))
    left = 0
    for picture in pictures:
        canvas.paste(picture, (left, 0))
        left += picture.width
    return canvas


def generate_reply(vlm: Any, picture: Any, prompt: str, max_new_tokens: int,
                   should_stop: Callable[[], bool] | None = None) -> str:
    """The model's greedy reply (the same call ``VLMCaption`` makes)."""
    from models.vision_language.generation import GenerationSettings

    inputs = vlm.prepare(picture, prompt)
    return vlm.generate(inputs, GenerationSettings(max_new_tokens, 0.0), None, should_stop).strip()


def option_scores(vlm: Any, picture: Any, prompt: str, options: tuple[str, ...]) -> list[float]:
    """The log-likelihood of each option's text (after one space) as the reply to the prompt."""
    return vlm.score_continuations(picture, prompt, [" " + text for text in options])


def best_option(scores: list[float]) -> str | None:
    """The letter of the highest score; a tie for the best is no answer."""
    if not scores:
        return None
    best = max(scores)
    winners = [i for i, s in enumerate(scores) if s == best]
    return LETTERS[winners[0]] if len(winners) == 1 else None
