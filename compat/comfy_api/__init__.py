"""ComfyUI's ``comfy_api`` package: the V3 node API (``latest``, ``v0_0_2``) for custom-node packs."""
