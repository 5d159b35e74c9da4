"""LotusConditioning: ComfyUI's contract (no inputs, one CONDITIONING named ``conditioning``) so the
Lotus depth templates convert and validate; running it is the one documented error."""
from __future__ import annotations

import pytest


def test_lotus_conditioning_contract_and_clear_error():
    from execution.registry import NodeRegistry
    from nodes import register_builtin_nodes
    from nodes.generation.lotus import lotus_conditioning

    registry = NodeRegistry()
    register_builtin_nodes(registry)
    info = registry.get("LotusConditioning").object_info(None)
    assert info["input"] == {"required": {}} and info["output"] == ["CONDITIONING"]
    assert info["output_name"] == ["conditioning"] and info["category"] == "conditioning/lotus"
    with pytest.raises(RuntimeError, match="not available in Plexus.*Stable Diffusion 2.x U-Nets"):
        lotus_conditioning()
