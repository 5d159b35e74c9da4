"""ComfyUI's ``comfy_execution.graph``: the blocker value and the dynamic prompt, from Plexus's executor."""
from execution.graph import DynamicPrompt, ExecutionBlocker

__all__ = ["DynamicPrompt", "ExecutionBlocker"]
