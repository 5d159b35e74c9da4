"""What an evaluation works on: one benchmark item, and the record of one model's answer to it."""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

LETTERS = string.ascii_uppercase
MULTIPLE_CHOICE = "multiple_choice"
YES_NO = "yes_no"


@dataclass(frozen=True)
class ImageRef:
    """An item's picture: base64 bytes inside the benchmark file, or a path relative to it."""
    base64: str = ""
    path: str = ""


@dataclass(frozen=True)
class BenchmarkItem:
    item_id: str
    kind: str  # MULTIPLE_CHOICE or YES_NO
    question: str
    options: tuple[str, ...] = ()  # option texts, lettered A, B, C... in this order
    answer: str | None = None  # a letter (multiple choice), "yes"/"no" (probes), None if unknown
    category: str = ""
    split: str = ""
    hint: str = ""
    images: tuple[ImageRef, ...] = ()
    line: int = 0  # where it starts in the file (1-based), for messages

    @property
    def letters(self) -> str:
        return LETTERS[:len(self.options)]


@dataclass(frozen=True)
class RowError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class Prediction:
    """One model's answer to one item (one rotation of it, for circular evaluation)."""
    item_id: str
    kind: str
    rotation: int  # 0 = the options as written
    options: tuple[str, ...]
    answer: str | None  # the right letter (or yes/no) for these options
    predicted: str | None  # the extracted letter (or yes/no); None = no usable answer
    raw: str  # the model's text, or the option scores in likelihood mode
    category: str = ""
    split: str = ""

    @property
    def correct(self) -> bool:
        return self.predicted is not None and self.predicted == self.answer

    def as_dict(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "rotation": self.rotation, "options": list(self.options),
                "answer": self.answer, "predicted": self.predicted, "correct": self.correct,
                "category": self.category, "split": self.split, "raw": self.raw}


@dataclass
class Predictions:
    """The ``PREDICTIONS`` value: every answer of one model run on one benchmark."""
    model_name: str
    benchmark_name: str
    records: list[Prediction] = field(default_factory=list)


@dataclass
class EvalResult:
    """The ``EVAL_RESULT`` value: scores of one model (or setting) on one benchmark."""
    name: str  # the model or setting, as shown in reports
    metric: str  # the headline metric, e.g. "circular accuracy"
    overall: float
    per_category: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)  # further figures (plain accuracy, F1...)
    records: list[dict] = field(default_factory=list)  # per-item rows, written as JSONL by reports
