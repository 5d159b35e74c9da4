"""Side-by-side reports: a table (Markdown and CSV) and a grouped bar chart of several results."""
from __future__ import annotations

import csv
import io
from typing import Any

from models.evaluation.items import EvalResult

PALETTE = [(66, 133, 244), (234, 67, 53), (251, 188, 5), (52, 168, 83), (171, 71, 188), (0, 172, 193)]


def categories_of(results: list[EvalResult]) -> list[str]:
    seen: list[str] = []
    for result in results:
        seen.extend(c for c in result.per_category if c not in seen)
    return seen


def table_rows(results: list[EvalResult]) -> list[list[str]]:
    categories = categories_of(results)
    header = ["name", "metric", "overall", *categories]
    extra_keys = [k for k in ("plain_accuracy", "questions", "count", "std", "median") if
                  any(k in r.details for r in results)]
    header += extra_keys
    rows = [header]
    for result in results:
        row = [result.name, result.metric, f"{result.overall:.4f}"]
        row += [f"{result.per_category[c]:.4f}" if c in result.per_category else "" for c in categories]
        row += [_cell(result.details.get(k)) for k in extra_keys]
        rows.append(row)
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_table(results: list[EvalResult]) -> str:
    rows = table_rows(results)
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def csv_text(results: list[EvalResult]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table_rows(results))
    return buffer.getvalue()


def bar_chart(results: list[EvalResult], width: int = 640, height: int = 360) -> Any:
    """Grouped bars: one group per category (plus "overall"), one colour per result, 0..1 scale."""
    from PIL import Image, ImageDraw

    groups = ["overall", *categories_of(results)]
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 40, width - 10, 30, height - 40
    for tick in range(0, 11, 2):  # the 0..1 axis with grid lines
        y = bottom - (bottom - top) * tick / 10
        draw.line((left, y, right, y), fill=(225, 225, 225))
        draw.text((4, y - 6), f"{tick / 10:.1f}", fill=(90, 90, 90))
    group_width = (right - left) / max(1, len(groups))
    bar_width = max(2.0, group_width * 0.8 / max(1, len(results)))
    for g, group in enumerate(groups):
        x0 = left + g * group_width + group_width * 0.1
        for r, result in enumerate(results):
            value = result.overall if group == "overall" else result.per_category.get(group)
            if value is None:
                continue
            bar_top = bottom - (bottom - top) * max(0.0, min(1.0, value))
            x = x0 + r * bar_width
            draw.rectangle((x, bar_top, x + bar_width - 1, bottom), fill=PALETTE[r % len(PALETTE)])
        draw.text((x0, bottom + 4), group[:14], fill=(40, 40, 40))
    for r, result in enumerate(results):  # legend
        x = left + r * 150
        draw.rectangle((x, 8, x + 10, 18), fill=PALETTE[r % len(PALETTE)])
        draw.text((x + 14, 6), result.name[:20], fill=(40, 40, 40))
    return image


def histogram(values: list[float], bins: int = 10, width: int = 480, height: int = 240) -> Any:
    """A histogram of scores (for generation sweeps)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int((value - low) / span * bins))] += 1
    top, bottom, left, right = 20, height - 30, 10, width - 10
    bar = (right - left) / bins
    for index, count in enumerate(counts):
        y = bottom - (bottom - top) * count / max(counts)
        draw.rectangle((left + index * bar, y, left + (index + 1) * bar - 2, bottom), fill=PALETTE[0])
    draw.text((left, bottom + 6), f"{low:.3f}", fill=(40, 40, 40))
    draw.text((right - 50, bottom + 6), f"{high:.3f}", fill=(40, 40, 40))
    return image
