"""Grounding boxes: Qwen2-VL and Qwen2.5-VL reply formats, coordinate spaces, drawing."""
from __future__ import annotations

import pytest


def test_parses_both_reply_formats():
    from models.vision_language.grounding import parse_boxes

    qwen2 = "There is a red cat(100,200),(400,600) and a dog (10, 20),(30,40)."  # special tokens decoded away
    assert parse_boxes(qwen2) == [{"label": "There is a red cat", "box": [100, 200, 400, 600]},
                                  {"label": "and a dog", "box": [10, 20, 30, 40]}]
    qwen25 = '```json\n[{"bbox_2d": [12, 8, 40, 30], "label": "square"}, {"bbox_2d": [1, 2, 3], "label": "bad"}]\n```'
    assert parse_boxes(qwen25) == [{"label": "square", "box": [12, 8, 40, 30]}]
    assert parse_boxes("no boxes here (1,2)") == []


def test_boxes_land_in_picture_pixels_per_family(vlm_env):
    from models.vision_language.grounding import boxes_in_picture
    from nodes.understanding.vlm import vlm_loader

    qwen2 = vlm_env.load(vlm_loader, "tiny-qwen2-vl")
    space = qwen2.family.box_space(qwen2.processor, 200, 100)
    assert space == (1000.0, 1000.0)
    assert boxes_in_picture("cat(500,500),(1000,1000)", space, 200, 100) == [
        {"label": "cat", "box": [100.0, 50.0, 200.0, 100.0]}]
    qwen25 = vlm_env.load(vlm_loader, "tiny-qwen2.5-vl")
    space = qwen25.family.box_space(qwen25.processor, 200, 100)  # the pixels of the resized input
    from PIL import Image

    _, grid_h, grid_w = qwen25.processor.image_processor(images=[Image.new("RGB", (200, 100))])["image_grid_thw"][0]
    assert space == (float(grid_w * 8), float(grid_h * 8)) == (80.0, 32.0)
    reply = '[{"bbox_2d": [40, 16, 100, -5], "label": "x"}]'  # out of range: clamped, corners ordered
    assert boxes_in_picture(reply, space, 200, 100) == [{"label": "x", "box": [100.0, 0.0, 200.0, 50.0]}]
    llava = vlm_env.load(vlm_loader, "tiny-llava")
    assert boxes_in_picture("cat(1,1),(2,2)", llava.family.box_space(llava.processor, 10, 10), 10, 10) == []


def test_draw_boxes_outlines_and_labels(vlm_env):
    import torch

    from nodes.understanding.vlm import vlm_draw_boxes

    image = torch.ones(1, 60, 80, 3)
    boxes = [{"label": "cat", "box": [10, 20, 50, 50]}]
    drawn = vlm_draw_boxes([image, image], [boxes, []], [3])[0]
    assert len(drawn) == 2 and drawn[0].shape == (1, 60, 80, 3)
    assert torch.allclose(drawn[0][0, 35, 11], torch.tensor([230, 25, 75]) / 255.0)  # left edge, first colour
    assert (drawn[0][0, 35, 30] == 1).all()  # inside stays untouched
    assert (drawn[0][0, 8:20, 10:30] < 1).any()  # the label above the box
    assert torch.equal(drawn[1], image)  # no boxes: unchanged
    with pytest.raises(ValueError, match="2 images but 3 box lists"):
        vlm_draw_boxes([image, image], [boxes, [], []], [2])
