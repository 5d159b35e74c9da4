# Written for Plexus's tests: a V1 pack importing, at module level, the ComfyUI names that stopped
# popular packs from loading (comfy.sd, node_helpers, latent_preview, comfy.sample, nodes.LoraLoader,
# comfy_extras.*, comfy.ldm..., ComfyUI's `execution` module, server.web, PromptServer.supports and
# prompt_queue, nodes.EXTENSION_WEB_DIRS, ImageScale.upscale_methods). Its pure nodes compute with
# the names that are real; SurfaceCallUnavailable calls one that raises.
import json
import os

import comfy.cli_args
import comfy.clip_vision
import comfy.controlnet
import comfy.diffusers_convert
import comfy.k_diffusion.sampling
import comfy.latent_formats
import comfy.ldm.modules.attention
import comfy.model_management
import comfy.model_patcher
import comfy.sample
import comfy.sampler_helpers
import comfy.samplers
import comfy.sd
import comfy.utils
import comfy_extras.nodes_custom_sampler
import comfy_extras.nodes_mask
import comfy_extras.nodes_upscale_model
import execution
import folder_paths
import latent_preview
import node_helpers
import nodes
from comfy.cli_args import LatentPreviewMethod, args
from comfy.k_diffusion.sampling import get_sigmas_karras, to_d
from comfy.ldm.modules.attention import CrossAttention, optimized_attention
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
from comfy.model_patcher import ModelPatcher
from comfy.utils import state_dict_prefix_replace
from comfy_extras.chainner_models import model_loading
from comfy_extras.nodes_custom_sampler import KSamplerSelect, Noise_RandomNoise, SamplerCustom
from comfy_extras.nodes_mask import composite
from comfy_extras.nodes_upscale_model import ImageUpscaleWithModel, UpscaleModelLoader
from execution import ExecutionResult, PromptExecutor, PromptQueue
from nodes import MAX_RESOLUTION, LoraLoader
from server import PromptServer, web

WEB_DIRECTORY = "./web"
UPSCALE_METHODS = nodes.ImageScale.upscale_methods  # read at import time, as packs do
WEB_DIRS_AT_IMPORT = dict(nodes.EXTENSION_WEB_DIRS)
SUPPORTS = PromptServer.instance.supports
# Names that raise when called; each is also checked by name in the tests.
UNAVAILABLE = {
    "comfy.model_patcher.ModelPatcher": lambda: ModelPatcher(None, "cpu", "cpu"),
    "comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel": lambda: UNetModel(),
    "comfy.ldm.modules.attention.CrossAttention": lambda: CrossAttention(8),
    "execution.PromptExecutor": lambda: PromptExecutor(PromptServer.instance),
    "comfy.diffusers_convert.convert_vae_state_dict": lambda: comfy.diffusers_convert.convert_vae_state_dict({}),
    "comfy_extras.chainner_models.model_loading.load_state_dict": lambda: model_loading.load_state_dict({}),
    "comfy_extras.nodes_custom_sampler.Noise_RandomNoise": lambda: Noise_RandomNoise(0),
    "comfy.sampler_helpers.convert_cond": lambda: comfy.sampler_helpers.convert_cond([]),
    "comfy.sd.VAE": lambda: comfy.sd.VAE(sd={}),
}


class SurfaceFacts:
    """Values computed with the real compat names, as one JSON string."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"scale": ("FLOAT", {"default": 2.0, "min": 0.1, "max": 10.0})},
                "hidden": {"unique_id": "UNIQUE_ID"}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "facts"
    CATEGORY = "test/surface"

    def facts(self, scale, unique_id=None):
        import torch

        sd3 = comfy.latent_formats.SD3()
        latent = torch.full((1, 16, 2, 2), scale)
        q = torch.arange(2 * 3 * 8, dtype=torch.float32).reshape(2, 3, 8) / 50.0
        attention = optimized_attention(q, q, q, heads=2)
        split = q.reshape(2, 3, 2, 4).transpose(1, 2)
        weights = torch.softmax(split @ split.transpose(-1, -2) / 2.0, dim=-1)
        manual = (weights @ split).transpose(1, 2).reshape(2, 3, 8)
        conditioning = node_helpers.conditioning_set_values([[torch.zeros(1), {"strength": 1.0}]],
                                                            {"strength": scale, "area": (8, 8, 0, 0)})
        state = state_dict_prefix_replace({"model.a": 1, "model.b": 2, "other": 3}, {"model.": "diffusion_model."})
        sigmas = get_sigmas_karras(3, 0.5, 8.0)
        queue = PromptServer.instance.prompt_queue
        running, pending = queue.get_current_queue()
        return (json.dumps({
            "max_resolution": MAX_RESOLUTION, "upscale_methods": UPSCALE_METHODS, "supports": SUPPORTS,
            "sd3_process_in": round(float(sd3.process_in(latent)[0, 0, 0, 0]), 6),
            "sd3_round_trip": round(float(sd3.process_out(sd3.process_in(latent))[0, 0, 0, 0]), 6),
            "attention_matches": bool(torch.allclose(attention, manual, atol=1e-6)),
            "conditioning": {k: v for k, v in conditioning[0][1].items()},
            "state_keys": sorted(state), "karras": [round(float(s), 5) for s in sigmas],
            "to_d": float(to_d(torch.tensor([3.0]), torch.tensor(2.0), torch.tensor([1.0]))[0]),
            "samplers": comfy.samplers.KSampler.SAMPLERS, "cli_cpu": args.cpu,
            "preview": args.preview_method.value, "execution_success": ExecutionResult.SUCCESS.value,
            "queue_running": [item[1] for item in running], "queue_pending": len(pending),
            "tasks_remaining": queue.get_tasks_remaining(), "web_is_aiohttp": web.__name__ == "aiohttp.web",
            "node_id": unique_id, "web_dirs_at_import": sorted(WEB_DIRS_AT_IMPORT),
            "own_web_dir": nodes.EXTENSION_WEB_DIRS.get("comfy_surface_pack"),
        }, sort_keys=True),)


class SurfaceComposite:
    """Scale a source with common_upscale and paste it onto a destination with composite."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"destination": ("IMAGE",), "source": ("IMAGE",),
                             "x": ("INT", {"default": 0, "min": -MAX_RESOLUTION, "max": MAX_RESOLUTION}),
                             "y": ("INT", {"default": 0, "min": -MAX_RESOLUTION, "max": MAX_RESOLUTION}),
                             "width": ("INT", {"default": 4, "min": 1, "max": MAX_RESOLUTION}),
                             "height": ("INT", {"default": 4, "min": 1, "max": MAX_RESOLUTION}),
                             "upscale_method": (UPSCALE_METHODS,)},
                "optional": {"mask": ("MASK",)}}

    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "paste"
    CATEGORY = "test/surface"

    def paste(self, destination, source, x, y, width, height, upscale_method, mask=None):
        scaled = comfy.utils.common_upscale(source.movedim(-1, 1), width, height, upscale_method, "disabled")
        pasted = composite(destination.movedim(-1, 1), scaled, x, y, mask, multiplier=1)
        return (pasted.movedim(1, -1),)


class SurfaceCallUnavailable:
    """Calls one of the names that raise (chosen by its qualified name)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"name": (sorted(UNAVAILABLE),)}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "call"
    CATEGORY = "test/surface"

    def call(self, name):
        UNAVAILABLE[name]()
        return ("unreachable",)


class SurfaceLoraPassThrough(LoraLoader):
    """Subclasses nodes.LoraLoader at import time, as LoRA-stack packs do."""

    CATEGORY = "test/surface"


NODE_CLASS_MAPPINGS = {"SurfaceFacts": SurfaceFacts, "SurfaceComposite": SurfaceComposite,
                       "SurfaceCallUnavailable": SurfaceCallUnavailable}
NODE_DISPLAY_NAME_MAPPINGS = {"SurfaceFacts": "Surface facts (test)"}
