"""The ComfyUI surface packs import (compat/): a fixture pack importing every name that stopped
popular packs loads; its pure nodes give the right values in-process and through the real server;
the names that cannot be backed raise NotAvailableInPlexus naming themselves; the classic frontend
modules work on the Plexus editor."""
from __future__ import annotations

import io
import json
import math

import pytest

from tests.plugins.test_plugins_server import in_browser_thread

SURFACE = "comfy_surface_pack"


@pytest.fixture
def bound(plugin_env):
    """The host modules bound to the plugin_env registry (other tests may have rebound them)."""
    import _plexus_binding

    _plexus_binding.install(plugin_env.report.host)
    return plugin_env


def test_the_surface_pack_loads_with_every_name_it_imports(plugin_env):
    pack = plugin_env.report.pack(SURFACE)
    assert pack.loaded, pack.error
    assert sorted(pack.nodes) == ["SurfaceCallUnavailable", "SurfaceComposite", "SurfaceFacts"]
    assert plugin_env.report.pack("web_install_pack").loaded, plugin_env.report.pack("web_install_pack").error


def test_the_sixteen_blocking_modules_import_and_execution_keeps_plexus(bound):
    import importlib

    import execution
    import execution.runner  # Plexus's own package is untouched

    for module in ("comfy.sd", "node_helpers", "latent_preview", "comfy.sample", "comfy_extras.nodes_custom_sampler",
                   "comfy_extras.nodes_upscale_model", "comfy_extras.chainner_models", "comfy_extras.nodes_mask",
                   "comfy.sampler_helpers", "comfy.cli_args", "comfy.clip_vision", "comfy.controlnet",
                   "comfy.latent_formats", "comfy.ldm.modules.attention", "comfy.model_patcher",
                   "comfy.diffusers_convert", "comfy.k_diffusion.sampling", "comfy.k_diffusion.utils"):
        assert importlib.import_module(module).__name__ == module
    assert execution.runner.PromptRunner and execution.PromptQueue.__name__ == "PromptQueue"
    assert execution.ExecutionResult.SUCCESS.value == 0
    with pytest.raises(AttributeError):
        execution.NoSuchComfyName  # noqa: B018 - only ComfyUI's names are added
    import nodes

    assert nodes.MAX_RESOLUTION == 16384 and "lanczos" in nodes.ImageScale.upscale_methods
    assert nodes.EXTENSION_WEB_DIRS[SURFACE].endswith("comfy_surface_pack/web")
    assert nodes.LOADED_MODULE_DIRS[SURFACE].endswith(SURFACE)


UNAVAILABLE = ["comfy.model_patcher.ModelPatcher", "comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel",
               "comfy.ldm.modules.attention.CrossAttention", "execution.PromptExecutor",
               "comfy.diffusers_convert.convert_vae_state_dict",
               "comfy_extras.chainner_models.model_loading.load_state_dict",
               "comfy_extras.nodes_custom_sampler.Noise_RandomNoise", "comfy.sampler_helpers.convert_cond",
               "comfy.sd.VAE"]


@pytest.mark.parametrize("name", UNAVAILABLE)
def test_names_that_cannot_be_backed_raise_the_documented_error(bound, name):
    import sys

    from _unavailable import NotAvailableInPlexus

    pack_module = sys.modules[bound.report.pack(SURFACE).module]
    assert sorted(pack_module.UNAVAILABLE) == sorted(UNAVAILABLE)
    with pytest.raises(NotAvailableInPlexus) as raised:
        pack_module.UNAVAILABLE[name]()
    assert raised.value.name == name and f"{name} is not available in Plexus" in str(raised.value)
    assert isinstance(raised.value, NotImplementedError)


def test_deferred_core_nodes_resolve_at_use(bound):
    import nodes
    from _unavailable import NotAvailableInPlexus
    from comfy_extras.nodes_upscale_model import UpscaleModelLoader

    registered = bound.registry.get("LoraLoader") is not None
    lora = nodes.LoraLoader
    if registered:  # issue 15's LoraLoader: the real node class
        assert "lora_name" in lora.INPUT_TYPES()["required"]
    else:
        with pytest.raises(NotAvailableInPlexus, match="nodes.LoraLoader"):
            lora()
    with pytest.raises(NotAvailableInPlexus, match="nodes.UpscaleModelLoader"):
        UpscaleModelLoader.INPUT_TYPES()
    with pytest.raises(AttributeError):
        nodes.NotAComfyNode  # noqa: B018 - feature detection stays honest


def test_comfy_extras_mask_classes_are_plexus_mask_nodes(bound):
    import torch

    from comfy_extras.nodes_mask import GrowMask, ImageCompositeMasked, MaskComposite, MaskToImage

    dot = torch.zeros(1, 3, 3)
    dot[0, 1, 1] = 1.0
    assert GrowMask().expand_mask(dot, 1, False)[0].sum() == 9  # ComfyUI's method names and argument order
    assert MaskToImage().mask_to_image(dot)[0].shape == (1, 3, 3, 3)
    assert MaskComposite().combine(dot, dot, 0, 0, "add")[0].max() == 1.0
    pasted = ImageCompositeMasked().composite(torch.zeros(1, 4, 4, 3), torch.ones(1, 2, 2, 3), 2, 2, False)[0]
    assert pasted.sum() == 12


def test_real_helpers_compute_the_documented_values(bound):
    import torch

    import comfy.sample
    import comfy.utils
    import node_helpers
    from comfy.k_diffusion.sampling import get_sigmas_exponential, get_sigmas_karras, sample_euler
    from comfy.sampler_helpers import prepare_mask
    from comfy_extras.nodes_mask import composite

    karras = get_sigmas_karras(4, 0.1, 10.0, rho=7.0)
    ramp = torch.linspace(0, 1, 4)
    expected = (10.0 ** (1 / 7) + ramp * (0.1 ** (1 / 7) - 10.0 ** (1 / 7))) ** 7
    assert torch.allclose(karras[:-1], expected) and karras[-1] == 0 and len(karras) == 5
    assert torch.allclose(get_sigmas_exponential(3, 1.0, 4.0)[:-1], torch.tensor([4.0, 2.0, 1.0]))
    # Euler on a denoiser that always answers 0 scales x by sigma_next / sigma at each step.
    x = sample_euler(lambda x, s: torch.zeros_like(x), torch.ones(1, 1), torch.tensor([4.0, 2.0, 1.0]))
    assert torch.allclose(x, torch.tensor([[0.25]]))
    conditioning = [[torch.zeros(1), {"a": [1]}], [torch.ones(1), {}]]
    out = node_helpers.conditioning_set_values(conditioning, {"a": [2], "b": 3}, append=True)
    assert out[0][1] == {"a": [1, 2], "b": 3} and out[1][1] == {"a": [2], "b": 3} and conditioning[0][1] == {"a": [1]}
    state = comfy.utils.state_dict_prefix_replace({"m.x": 1, "y": 2}, {"m.": "n."}, filter_keys=True)
    assert state == {"n.x": 1}
    destination = torch.zeros(1, 1, 4, 4)
    pasted = composite(destination, torch.ones(1, 1, 2, 2), 16, 8, multiplier=8)  # latent units
    assert pasted[0, 0].tolist() == [[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]]
    assert destination.sum() == 0
    mask = prepare_mask(torch.ones(1, 8, 8), (2, 16, 4, 4), "cpu")
    assert mask.shape == (2, 16, 4, 4) and mask.min() == 1
    noise = comfy.sample.prepare_noise(torch.zeros(1, 16, 2, 2), 42)
    generator = torch.Generator("cpu").manual_seed(42)
    assert torch.equal(noise, torch.randn((1, 16, 2, 2), generator=generator))


def _run(server, prompt: dict) -> dict:
    response = server.post_json("/prompt", {"prompt": prompt})
    assert response.status == 200, response.body
    prompt_id = response.json()["prompt_id"]
    return server.wait_for(lambda: server.get_json(f"/history/{prompt_id}").get(prompt_id), timeout=60)


def test_surface_facts_through_the_server(plugin_server):
    prompt = {"1": {"class_type": "SurfaceFacts", "inputs": {"scale": 2.0}},
              "2": {"class_type": "PreviewText", "inputs": {"text": ["1", 0]}}}
    entry = _run(plugin_server, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    facts = json.loads(entry["outputs"]["2"]["text"][0])
    assert facts["max_resolution"] == 16384 and facts["supports"] == ["custom_nodes_from_web"]
    assert facts["upscale_methods"] == ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
    assert math.isclose(facts["sd3_process_in"], (2.0 - 0.0609) * 1.5305, rel_tol=1e-6)
    assert math.isclose(facts["sd3_round_trip"], 2.0, rel_tol=1e-6) and facts["attention_matches"] is True
    assert facts["conditioning"] == {"strength": 2.0, "area": [8, 8, 0, 0]}
    assert facts["state_keys"] == ["diffusion_model.a", "diffusion_model.b", "other"]
    assert facts["karras"][0] == 8.0 and facts["karras"][-1] == 0.0 and len(facts["karras"]) == 4
    assert facts["to_d"] == 1.0 and facts["execution_success"] == 0 and facts["web_is_aiohttp"] is True
    ksampler = plugin_server.get_json("/object_info/KSampler")["KSampler"]["input"]["required"]
    assert facts["samplers"] == ksampler["sampler_name"][0] and "euler" in facts["samplers"]  # Plexus's choices
    # the server runs without --cpu: ComfyUI's args mirror Plexus's flags
    assert facts["cli_cpu"] is False and facts["preview"] in ("latent2rgb", "none")
    assert facts["node_id"] == "1" and facts["tasks_remaining"] >= 1
    assert facts["queue_running"] == [entry["prompt"][1]] and facts["queue_pending"] == 0
    assert facts["own_web_dir"].endswith("comfy_surface_pack/web")
    assert SURFACE not in facts["web_dirs_at_import"]  # a pack's folder is recorded once it has loaded


def test_surface_composite_through_the_server(plugin_server):
    from PIL import Image

    prompt = {"dst": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "src": {"class_type": "EmptyImage", "inputs": {"width": 2, "height": 2, "batch_size": 1,
                                                             "color": 0xFFFFFF}},
              "paste": {"class_type": "SurfaceComposite", "inputs": {
                  "destination": ["dst", 0], "source": ["src", 0], "x": 2, "y": 6, "width": 4, "height": 4,
                  "upscale_method": "nearest-exact"}},
              "save": {"class_type": "SaveImage", "inputs": {"images": ["paste", 0], "filename_prefix": "surface"}}}
    entry = _run(plugin_server, prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    image = entry["outputs"]["save"]["images"][0]
    png = plugin_server.request("GET", f"/view?filename={image['filename']}&type=output&subfolder={image['subfolder']}")
    pixels = Image.open(io.BytesIO(png.body)).convert("L")
    white = {(x, y) for x in range(8) for y in range(8) if pixels.getpixel((x, y)) == 255}
    assert white == {(x, y) for x in range(2, 6) for y in (6, 7)}  # clipped at the bottom edge
    assert all(pixels.getpixel((x, y)) == 0 for x in range(8) for y in range(8) if (x, y) not in white)


def test_a_raising_name_is_a_clear_node_error_and_the_server_keeps_running(plugin_server):
    prompt = {"1": {"class_type": "SurfaceCallUnavailable", "inputs": {"name": "comfy.model_patcher.ModelPatcher"}},
              "2": {"class_type": "PreviewText", "inputs": {"text": ["1", 0]}}}
    entry = _run(plugin_server, prompt)
    assert entry["status"]["status_str"] == "error"
    error = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"][0]
    assert error["exception_type"].endswith("NotAvailableInPlexus")
    assert "comfy.model_patcher.ModelPatcher is not available in Plexus" in error["exception_message"]
    assert plugin_server.get_json("/system_stats")["system"]


def test_classic_frontend_modules_are_served(plugin_server):
    for name in ("app", "api", "widgets", "ui", "utils"):
        served = plugin_server.request("GET", f"/scripts/{name}.js")
        assert served.status == 200 and f"/editor/compat/{name}.js".encode() in served.body
        editor_module = plugin_server.request("GET", f"/editor/compat/{name}.js")
        assert editor_module.status == 200 and b"export" in editor_module.body
        assert "javascript" in editor_module.headers.get("Content-Type", "")


@pytest.mark.browser
def test_classic_frontend_modules_work_on_the_plexus_editor(plugin_server):
    from tests.fixtures.browser import open_editor

    def check(browser):
        editor = open_editor(browser, plugin_server)
        try:
            editor.page.wait_for_function("window.classicPack && window.classicPack.loaded", timeout=15000)
            result = editor.eval("window.classicPack")
            assert result["sameApi"] is True and result["text"] == "hello" and result["seed"] == 7
            assert result["control"] == "fixed" and result["controlLinked"] is True
            assert result["inputs"] == 1  # ComfyWidgets adds widgets, not sockets
            assert result["badge"] == "surface" and result["dialog"] == "shown"
            assert result["replaced"] == f"out_hello_{result['year']}" and result["cloned"] == {"a": [1, 2]}
            assert result["stylesheet"] is True
            assert not [e for e in editor.console_errors if "scripts/" in e or "classic" in e]
        finally:
            editor.page.context.close()

    in_browser_thread(check)
