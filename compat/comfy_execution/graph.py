"""ComfyUI's ``comfy_execution.graph``: the blocker value and the dynamic prompt, from Plexus's executor."""
from execution.graph import DynamicPrompt, ExecutionBlocker  # noqa: F401

__all__ = ["ExecutionBlocker", "DynamicPrompt"]
