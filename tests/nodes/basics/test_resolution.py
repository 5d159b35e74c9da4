"""ResolutionSelector: sides in the ratio, product ≈ the megapixel target, each a multiple; the
templates' widget values (with and without ``multiple``) convert and give those sides."""
from __future__ import annotations

import math

import pytest

from nodes.basics.resolution import ASPECT_RATIOS, resolution_selector


@pytest.mark.parametrize("ratio,megapixels,multiple,expected", [
    ("1:1 (Square)", 1.0, 8, (1024, 1024)),
    ("16:9 (Widescreen)", 0.4, 32, (864, 480)),
    ("9:16 (Portrait Widescreen)", 1.0, 8, (768, 1368)),
    ("21:9 (Ultrawide)", 2.0, 16, (2208, 944)),
])
def test_known_sizes(ratio, megapixels, multiple, expected):
    assert resolution_selector(ratio, megapixels, multiple) == expected


@pytest.mark.parametrize("ratio", list(ASPECT_RATIOS))
@pytest.mark.parametrize("megapixels,multiple", [(0.1, 8), (1.0, 16), (3.7, 64), (16.0, 128)])
def test_every_ratio_is_kept_within_one_multiple(ratio, megapixels, multiple):
    width, height = resolution_selector(ratio, megapixels, multiple)
    ratio_w, ratio_h = ASPECT_RATIOS[ratio]
    assert width % multiple == 0 and height % multiple == 0
    exact = math.sqrt(megapixels * 1024 * 1024 / (ratio_w * ratio_h))
    assert abs(width - ratio_w * exact) <= multiple / 2 and abs(height - ratio_h * exact) <= multiple / 2


def test_template_widget_values_convert_with_and_without_multiple():
    from execution.registry import NodeRegistry
    from execution.workflow import convert_workflow
    from nodes import register_builtin_nodes

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    for values, expected in ((["16:9 (Widescreen)", 0.4, 32], 32), (["1:1 (Square)", 2], None)):
        workflow = {"nodes": [{"id": 1, "type": "ResolutionSelector", "widgets_values": values,
                               "outputs": [{"name": "width", "type": "INT"}, {"name": "height", "type": "INT"}]}],
                    "links": []}
        inputs = convert_workflow(workflow, registry).prompt["1"]["inputs"]
        assert inputs.get("multiple") == expected
        assert resolution_selector(**inputs) == resolution_selector(values[0], values[1], expected or 8)
