"""ComfyUI's ``comfy`` package, as far as Plexus provides it (see custom_nodes/README.md):
``comfy.utils``, ``comfy.model_management``, ``comfy.comfy_types`` and ``comfy.samplers``."""
