"""ComfyUI's ``comfy_extras`` modules that packs import: custom sampling, masks, upscale models."""
