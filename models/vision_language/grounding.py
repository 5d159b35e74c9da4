"""Grounding boxes in VLM replies, and drawing them.

Qwen2-VL writes ``<|object_ref_start|>cat<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``
(the special tokens vanish when the reply is decoded, leaving ``cat(x1,y1),(x2,y2)``); Qwen2.5-VL and
Qwen3-VL write JSON objects ``{"bbox_2d": [x1, y1, x2, y2], "label": "cat"}``. The coordinate space
differs by family (``VLMFamily.box_space``); boxes here are in the picture's own pixels.

A ``BOXES`` value is a list of ``{"label": str, "box": [x1, y1, x2, y2]}`` for one picture.
"""
from __future__ import annotations

import json
import re
from typing import Any

_NUMBER = r"\s*(-?\d+(?:\.\d+)?)\s*"
_PAIR_BOX = re.compile(rf"(?P<label>[^()\[\]{{}}\n]*?)\s*\({_NUMBER},{_NUMBER}\)\s*,?\s*\({_NUMBER},{_NUMBER}\)")
_JSON_OBJECT = re.compile(r"\{[^{}]*\"bbox_2d\"[^{}]*\}")


def parse_boxes(text: str) -> list[dict]:
    """Boxes (in the model's coordinates) and labels found in a reply, in order."""
    boxes = []
    for match in _JSON_OBJECT.finditer(text):
        try:
            item = json.loads(match.group(0))
            x1, y1, x2, y2 = (float(v) for v in item["bbox_2d"])
        except (ValueError, KeyError, TypeError):
            continue
        boxes.append({"label": str(item.get("label", "")), "box": [x1, y1, x2, y2]})
    if boxes:
        return boxes
    for match in _PAIR_BOX.finditer(text):
        x1, y1, x2, y2 = (float(match.group(i)) for i in range(2, 6))
        boxes.append({"label": match.group("label").strip(" ,.:;"), "box": [x1, y1, x2, y2]})
    return boxes


def boxes_in_picture(text: str, space: tuple[float, float] | None, width: int, height: int) -> list[dict]:
    """The reply's boxes scaled from the model's ``space`` (width, height) to the picture's pixels,
    ordered corners, clamped to the picture."""
    if space is None:
        return []
    scale_x, scale_y = width / space[0], height / space[1]
    placed = []
    for item in parse_boxes(text):
        x1, y1, x2, y2 = item["box"]
        xs = sorted((min(max(x1 * scale_x, 0.0), width), min(max(x2 * scale_x, 0.0), width)))
        ys = sorted((min(max(y1 * scale_y, 0.0), height), min(max(y2 * scale_y, 0.0), height)))
        placed.append({"label": item["label"], "box": [round(xs[0], 2), round(ys[0], 2), round(xs[1], 2),
                                                       round(ys[1], 2)]})
    return placed


PALETTE = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240))


def draw_boxes(picture: Any, boxes: list[dict], line_width: int = 2) -> Any:
    """A copy of the PIL picture with each box outlined and labelled."""
    from PIL import ImageDraw

    drawn = picture.convert("RGB").copy()
    draw = ImageDraw.Draw(drawn)
    for index, item in enumerate(boxes):
        color = PALETTE[index % len(PALETTE)]
        x1, y1, x2, y2 = item["box"]
        draw.rectangle((x1, y1, x2, y2), outline=color, width=line_width)
        if item.get("label"):
            left, top, right, bottom = draw.textbbox((x1, y1), item["label"])
            top_edge = max(0.0, y1 - (bottom - top) - 2)
            draw.rectangle((x1, top_edge, x1 + (right - left) + 4, top_edge + (bottom - top) + 2), fill=color)
            draw.text((x1 + 2, top_edge), item["label"], fill=(255, 255, 255))
    return drawn
