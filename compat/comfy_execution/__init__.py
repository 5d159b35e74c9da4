"""ComfyUI's ``comfy_execution`` package: ``graph`` (ExecutionBlocker) and ``graph_utils`` (GraphBuilder)."""
