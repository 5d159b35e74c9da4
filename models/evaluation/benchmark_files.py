"""Local benchmark files, read lazily (the ``BENCHMARK`` value).

Formats (one row per line; nothing is downloaded):
- ``mmbench``: MMBench's TSV: a header, then ``index, question, hint, A, B, C, D..., answer,
  category, image`` (base64). Options are the letter columns that are not empty.
- ``multiple_choice``: JSON lines or CSV with ``question``, the options (``options`` as a list,
  or ``A``/``B``/... fields), ``answer`` (a letter or the option's text), ``image`` or ``images``
  (paths relative to the file, or ``image_1``... ``image_7`` as MMMU writes them), optional ``id``,
  ``category`` (or ``subject``/``subfield``) and ``hint``. MMMU-style items have several images.
- ``yes_no``: POPE's probes, JSON lines (or CSV) with ``image``, ``text`` (or ``question``) and
  ``label`` (yes/no), optional ``split`` (else taken from the file name: random, popular,
  adversarial) and ``category``.

Opening a file scans it once, keeps only where each row starts (8 bytes an item) and checks every
row; a bad row is reported with its line number and left out, and the others still run. Items are
parsed again from the file when they are read, so memory does not grow with the file.
"""
from __future__ import annotations

import ast
import base64
import csv
import io
import json
import os
import re
import sys
from array import array
from pathlib import Path
from typing import Any, Iterator

from models.evaluation.items import LETTERS, MULTIPLE_CHOICE, YES_NO, BenchmarkItem, ImageRef, RowError

FORMATS = ("auto", "mmbench", "multiple_choice", "yes_no")
EXTENSIONS = (".tsv", ".jsonl", ".json", ".csv")
MISSING = {"", "nan", "none", "null"}
POPE_SPLITS = ("random", "popular", "adversarial")
csv.field_size_limit(sys.maxsize)  # MMBench rows carry whole base64 images


class BenchmarkFormatError(ValueError):
    pass


class Benchmark:
    """A benchmark file: ``len()``, ``item(i)`` and iteration, each item parsed on demand."""

    def __init__(self, path: str | Path, file_format: str = "auto"):
        self.path = Path(path)
        self.name = self.path.stem
        if file_format not in FORMATS:
            raise BenchmarkFormatError(f"unknown benchmark format {file_format!r}; one of {', '.join(FORMATS)}")
        self.format = detect_format(self.path) if file_format == "auto" else file_format
        self.header: list[str] | None = None
        self.offsets = array("Q")
        self.line_numbers = array("L")
        self.errors: list[RowError] = []
        self._scan()

    def __len__(self) -> int:
        return len(self.offsets)

    def __iter__(self) -> Iterator[BenchmarkItem]:
        with self.path.open("rb") as handle:
            for offset, line_number in zip(self.offsets, self.line_numbers):
                handle.seek(offset)
                yield self._parse(handle.readline(), line_number)

    def item(self, index: int) -> BenchmarkItem:
        with self.path.open("rb") as handle:
            handle.seek(self.offsets[index])
            return self._parse(handle.readline(), self.line_numbers[index])

    def describe(self) -> str:
        text = f"{self.name} ({self.format}): {len(self)} items"
        if self.errors:
            text += f", {len(self.errors)} bad rows skipped"
        return text

    # -- scanning ---------------------------------------------------------------------------------
    def _scan(self) -> None:
        with self.path.open("rb") as handle:
            offset, line_number = 0, 0
            for raw in handle:
                line_number += 1
                start, offset = offset, offset + len(raw)
                if not raw.strip():
                    continue
                if line_number == 1 and self._takes_header():
                    self.header = _csv_row(raw, self._delimiter())
                    self._check_header()
                    continue
                try:
                    self._parse(raw, line_number)
                except (ValueError, KeyError, TypeError, SyntaxError) as exc:
                    self.errors.append(RowError(line_number, str(exc) or type(exc).__name__))
                    continue
                self.offsets.append(start)
                self.line_numbers.append(line_number)

    def _takes_header(self) -> bool:
        return self.format == "mmbench" or self.path.suffix.lower() == ".csv"

    def _delimiter(self) -> str:
        return "\t" if self.path.suffix.lower() == ".tsv" or self.format == "mmbench" else ","

    def _check_header(self) -> None:
        if not {"question", "text"} & set(self.header or []):
            raise BenchmarkFormatError(f"{self.path.name}: the header has no 'question' (or 'text') column "
                                       f"(found: {', '.join(self.header or [])})")

    # -- parsing one row --------------------------------------------------------------------------
    def _parse(self, raw: bytes, line_number: int) -> BenchmarkItem:
        row = self._row(raw)
        if self.format == "mmbench":
            return _mmbench_item(row, line_number)
        if self.format == YES_NO:
            return _probe_item(row, line_number, self.name)
        return _choice_item(row, line_number)

    def _row(self, raw: bytes) -> dict[str, Any]:
        if self.header is not None:
            values = _csv_row(raw, self._delimiter())
            if len(values) != len(self.header):
                raise ValueError(f"{len(values)} fields where the header has {len(self.header)}")
            return dict(zip(self.header, values))
        row = json.loads(raw)
        if not isinstance(row, dict):
            raise ValueError("each line must be a JSON object")
        return row


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".tsv":
        return "mmbench"
    if suffix not in EXTENSIONS:
        raise BenchmarkFormatError(f"{path.name}: benchmark files are {', '.join(EXTENSIONS)}")
    with path.open("rb") as handle:
        first = handle.readline()
        if suffix == ".csv":
            return YES_NO if "label" in _csv_row(first, ",") else MULTIPLE_CHOICE
        if first.lstrip().startswith(b"["):
            raise BenchmarkFormatError(f"{path.name}: a JSON array; write one JSON object per line (JSON lines)")
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return MULTIPLE_CHOICE  # the row's error is reported with its line number
    is_probe = isinstance(row, dict) and str(row.get("label", "")).strip().lower() in ("yes", "no")
    return YES_NO if is_probe else MULTIPLE_CHOICE


def _csv_row(raw: bytes, delimiter: str) -> list[str]:
    text = raw.decode("utf-8-sig").rstrip("\r\n")
    return next(csv.reader([text], delimiter=delimiter), [])


def _present(value: Any) -> bool:
    return value is not None and str(value).strip().lower() not in MISSING


def _text(row: dict, *keys: str) -> str:
    for key in keys:
        if _present(row.get(key)):
            return str(row[key]).strip()
    return ""


def _mmbench_item(row: dict, line_number: int) -> BenchmarkItem:
    options = []
    for letter in LETTERS:
        if letter not in row or not _present(row[letter]):
            break
        options.append(str(row[letter]).strip())
    question = _text(row, "question")
    if not question:
        raise ValueError("no question")
    if len(options) < 2:
        raise ValueError(f"{len(options)} options (columns A, B, ...); a question needs at least 2")
    answer = _text(row, "answer").upper() or None
    if answer is not None and answer not in LETTERS[:len(options)]:
        raise ValueError(f"answer {answer!r} is not one of the options {LETTERS[:len(options)]}")
    images = (ImageRef(base64=row["image"].strip()),) if _present(row.get("image")) else ()
    if not images and _present(row.get("image_path")):
        images = (ImageRef(path=row["image_path"].strip()),)
    return BenchmarkItem(item_id=_text(row, "index") or str(line_number), kind=MULTIPLE_CHOICE, question=question,
                         options=tuple(options), answer=answer, category=_text(row, "category", "l2-category"),
                         split=_text(row, "split"), hint=_text(row, "hint"), images=images, line=line_number)


def _choice_options(row: dict) -> list[str]:
    value = row.get("options")
    if isinstance(value, str) and value.strip().startswith("["):
        value = ast.literal_eval(value.strip())  # MMMU exports: "['a', 'b']" (literals only, never code)
    if isinstance(value, (list, tuple)):
        return [str(option).strip() for option in value]
    options = []
    for letter in LETTERS:
        if not _present(row.get(letter)):
            break
        options.append(str(row[letter]).strip())
    return options


def _image_refs(row: dict) -> tuple[ImageRef, ...]:
    paths: list[str] = []
    images = row.get("images")
    if isinstance(images, str) and images.strip().startswith("["):
        images = json.loads(images)
    if isinstance(images, list):
        paths = [str(p) for p in images if _present(p)]
    elif _present(row.get("image")):
        paths = [str(row["image"])]
    else:
        paths = [str(row[f"image_{n}"]) for n in range(1, 8) if _present(row.get(f"image_{n}"))]
    return tuple(ImageRef(path=p.strip()) for p in paths)


def _choice_item(row: dict, line_number: int) -> BenchmarkItem:
    question = _text(row, "question")
    if not question:
        raise ValueError("no question")
    options = _choice_options(row)
    if len(options) < 2:
        raise ValueError(f"{len(options)} options; a question needs at least 2")
    if len(options) > len(LETTERS):
        raise ValueError(f"{len(options)} options; at most {len(LETTERS)}")
    answer = _text(row, "answer") or None
    if answer is not None:
        letter = answer.strip("() .").upper()
        if len(letter) == 1 and letter in LETTERS[:len(options)]:
            answer = letter
        elif answer in options:
            answer = LETTERS[options.index(answer)]
        else:
            raise ValueError(f"answer {answer!r} is neither an option letter nor an option's text")
    return BenchmarkItem(item_id=_text(row, "id", "index") or str(line_number), kind=MULTIPLE_CHOICE,
                         question=question, options=tuple(options), answer=answer,
                         category=_text(row, "category", "subject", "subfield"), hint=_text(row, "hint"),
                         images=_image_refs(row), line=line_number)


def _probe_item(row: dict, line_number: int, file_stem: str) -> BenchmarkItem:
    question = _text(row, "text", "question")
    if not question:
        raise ValueError("no question ('text' or 'question')")
    label = _text(row, "label").lower() or None
    if label not in ("yes", "no", None):
        raise ValueError(f"label {row.get('label')!r} is not yes or no")
    split = _text(row, "split") or next((s for s in POPE_SPLITS if s in file_stem.lower()), "")
    return BenchmarkItem(item_id=_text(row, "question_id", "id") or str(line_number), kind=YES_NO,
                         question=question, options=("yes", "no"), answer=label, split=split,
                         category=_text(row, "category"), images=_image_refs(row), line=line_number)


def open_images(item: BenchmarkItem, benchmark_path: Path, max_pixels: int = 64_000_000) -> list[Any]:
    """The item's pictures as RGB PIL images. Paths are relative to the benchmark file and may not
    leave its folder; a picture over ``max_pixels`` is refused before it is decoded."""
    from PIL import Image

    from models.folders import confined

    pictures = []
    for ref in item.images:
        if ref.base64:
            source: Any = io.BytesIO(base64.b64decode(ref.base64))
        else:
            source = confined(benchmark_path.parent, ref.path.replace("\\", "/"))
            if not os.path.isfile(source):
                raise FileNotFoundError(f"item {item.item_id} (line {item.line}): image {ref.path} not found "
                                        f"next to {benchmark_path.name}")
        with Image.open(source) as picture:
            if picture.width * picture.height > max_pixels:
                raise ValueError(f"item {item.item_id}: image of {picture.width}x{picture.height} is over "
                                 f"the {max_pixels:,}-pixel budget")
            pictures.append(picture.convert("RGB"))
    return pictures


def list_benchmark_files(input_dir: Path) -> list[str]:
    """Benchmark files under ``input/`` (relative names), for the loader's combo."""
    names = []
    for path in sorted(Path(input_dir).rglob("*")):
        if path.suffix.lower() in EXTENSIONS and path.is_file() and not path.name.startswith("."):
            names.append(path.relative_to(input_dir).as_posix())
    return [n for n in names if not re.search(r"(^|/)\.", n)]
