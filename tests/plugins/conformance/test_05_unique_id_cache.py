"""Point 5: a class with a hidden ``UNIQUE_ID`` has its node id in its cache key, so two such
nodes with equal inputs never share a result."""
from __future__ import annotations


def test_equal_nodes_with_unique_id_do_not_share_results(conformance):
    prompt = {"10": {"class_type": "ConfById", "inputs": {"value": 3}},
              "11": {"class_type": "ConfById", "inputs": {"value": 3}},
              "20": {"class_type": "ConfShow", "inputs": {"value": ["10", 0]}},
              "21": {"class_type": "ConfShow", "inputs": {"value": ["11", 0]}}}
    outcome = conformance.run(prompt)
    assert outcome.status == "success", outcome.error
    assert outcome.outputs["20"]["value"] == ["10:3"] and outcome.outputs["21"]["value"] == ["11:3"]
    renamed = {"12" if k == "11" else k: v for k, v in prompt.items()}
    renamed["21"] = {"class_type": "ConfShow", "inputs": {"value": ["12", 0]}}
    again = conformance.run(renamed)  # a new id is a new key: it runs, the unchanged node is cached
    assert again.outputs["21"]["value"] == ["12:3"] and "10" in again.cached and "12" not in again.cached


def test_nodes_without_unique_id_still_share_equal_results(conformance):
    prompt = {"10": {"class_type": "ConfPlainHooks", "inputs": {"value": 4}},
              "11": {"class_type": "ConfPlainHooks", "inputs": {"value": 4}},
              "20": {"class_type": "ConfShow", "inputs": {"value": ["10", 0]}},
              "21": {"class_type": "ConfShow", "inputs": {"value": ["11", 0]}}}
    conformance.run(prompt)
    again = conformance.run({k: v for k, v in prompt.items() if k in ("11", "21")})
    assert "11" in again.cached
