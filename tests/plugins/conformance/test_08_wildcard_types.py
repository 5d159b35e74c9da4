"""Point 8: a wildcard type (a ``str`` subclass whose ``__ne__`` never says "different", the
``AnyType`` of many packs) is published as ``*`` and accepts links of every type."""
from __future__ import annotations


def test_wildcards_are_published_as_star(conformance):
    info = conformance.object_info()
    assert info["ConfPassthrough"]["input"]["required"]["value"] == ["*"]
    assert info["ConfPassthrough"]["output"] == ["*"]
    assert info["ConfShow"]["input"]["required"]["value"][0] == "*"


def test_links_of_any_type_flow_through_a_wildcard(conformance):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "ConfPassthrough", "inputs": {"value": ["1", 0]}},
              "3": {"class_type": "ImageInvert", "inputs": {"image": ["2", 0]}},  # * into IMAGE
              "4": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
              "5": {"class_type": "PrimitiveString", "inputs": {"value": "text"}},
              "6": {"class_type": "ConfPassthrough", "inputs": {"value": ["5", 0]}},
              "7": {"class_type": "ConfShow", "inputs": {"value": ["6", 0]}}}
    assert conformance.validate(prompt) == {}
    outcome = conformance.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["7"]["value"] == ["text"] and len(outcome.outputs["4"]["images"]) == 1
