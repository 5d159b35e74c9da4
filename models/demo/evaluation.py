"""Small benchmark files for the evaluation workflows, in the real formats: an MMBench TSV (base64
pictures), POPE probes (JSON lines, pictures beside them) and MMMU-style items with two pictures.
They use the demo's coloured shapes, so a real model could answer them; the demo's random-weight
models answer at chance."""
from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

SHAPES = {"red circle": ("ellipse", (220, 40, 40)), "blue square": ("rectangle", (40, 60, 220)),
          "green triangle": ("polygon", (40, 180, 60)), "yellow square": ("rectangle", (230, 200, 40))}
BENCHMARK_DIR = "benchmarks"


def shape_picture(name: str) -> Any:
    from PIL import Image, ImageDraw

    shape, color = SHAPES[name]
    picture = Image.new("RGB", (48, 48), (245, 240, 230))
    draw = ImageDraw.Draw(picture)
    if shape == "polygon":
        draw.polygon([(24, 4), (44, 42), (4, 42)], fill=color)
    else:
        getattr(draw, shape)((8, 8, 40, 40), fill=color)
    return picture


def _png_base64(picture: Any) -> str:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_mmbench_tsv(target: Path) -> None:
    names = list(SHAPES)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image"])
        for index, name in enumerate(names):
            options = names  # the same options each time: the right answer moves through A..D
            answer = "ABCD"[index]
            category = "color" if index % 2 else "shape"
            writer.writerow([index, "Which shape is shown?", "", *options, answer, category,
                             _png_base64(shape_picture(name))])


def write_pope_jsonl(folder: Path, split: str) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for number, name in enumerate(SHAPES):
        image = f"images/{name.replace(' ', '_')}.png"
        shape_picture(name).save(folder / image)
        other = list(SHAPES)[(number + 1) % len(SHAPES)]
        rows.append({"question_id": 2 * number + 1, "image": image, "text": f"Is there a {name} in the image?",
                     "label": "yes"})
        rows.append({"question_id": 2 * number + 2, "image": image, "text": f"Is there a {other} in the image?",
                     "label": "no"})
    target = folder / f"demo_pope_{split}.jsonl"
    target.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return target


def write_mmmu_jsonl(folder: Path) -> Path:
    (folder / "images").mkdir(parents=True, exist_ok=True)
    names = list(SHAPES)
    rows = []
    for number in range(2):
        first, second = names[number], names[number + 2]
        for name in (first, second):
            shape_picture(name).save(folder / "images" / f"{name.replace(' ', '_')}.png")
        rows.append({"id": f"mmmu_demo_{number + 1}", "question": "<image 1> and <image 2>: which one is red?",
                     "options": json.dumps([first, second, "neither"]),
                     "answer": "A" if "red" in first else ("B" if "red" in second else "C"),
                     "image_1": f"images/{first.replace(' ', '_')}.png",
                     "image_2": f"images/{second.replace(' ', '_')}.png", "subject": "Art"})
    target = folder / "demo_mmmu.jsonl"
    target.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return target


def write_demo_benchmarks(models_dir: str | Path, force: bool = False,
                          input_dir: str | Path | None = None) -> list[Path]:
    """Write the demo benchmark files into ``input/benchmarks/`` (beside ``models/`` by default)."""
    folder = Path(input_dir or Path(models_dir).parent / "input") / BENCHMARK_DIR
    mmbench = folder / "demo_mmbench.tsv"
    if mmbench.is_file() and not force:
        return []
    folder.mkdir(parents=True, exist_ok=True)
    write_mmbench_tsv(mmbench)
    return [mmbench, write_pope_jsonl(folder, "random"), write_pope_jsonl(folder, "adversarial"),
            write_mmmu_jsonl(folder)]
