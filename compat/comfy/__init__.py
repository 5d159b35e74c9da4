"""ComfyUI's ``comfy`` package, as far as Plexus provides it: see custom_nodes/README.md for every
module and name, real or raising."""
