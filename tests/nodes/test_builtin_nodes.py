"""Built-in image, latent, mask and primitive nodes, run through the real executor."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from execution.cache import make_cache
from execution.registry import NodeRegistry
from execution.runner import PromptRunner
from execution.validate import validate_prompt
from models.folders import FolderPaths
from models.services import Services
from nodes import register_builtin_nodes

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path):
    services = Services(FolderPaths.create(tmp_path))
    services.paths.ensure_dirs()
    registry = NodeRegistry()
    register_builtin_nodes(registry)
    runner = PromptRunner(registry, make_cache(), services)

    def run(prompt, extra=None):
        validation = validate_prompt(prompt, registry, services)
        assert validation.ok, validation.response()
        result = runner.run("p", validation.prompt, validation.outputs, lambda e: None, extra or {})
        assert result.status == "success", result.error
        return result

    return services, registry, run


def save(source, prefix="out", slot=0):
    return {"class_type": "SaveImage", "inputs": {"images": [source, slot], "filename_prefix": prefix}}


def empty(w=32, h=16, color=0xFF8000, batch=1):
    return {"class_type": "EmptyImage", "inputs": {"width": w, "height": h, "batch_size": batch, "color": color}}


def test_save_image_naming_counter_chunks_and_subfolders(env):
    services, _, run = env
    (services.paths.output_dir / "pics").mkdir()
    (services.paths.output_dir / "pics" / "cat_00041_.png").write_bytes(b"x")
    prompt = {"1": empty(batch=2), "2": save("1", "pics/cat")}
    result = run(prompt, {"extra_pnginfo": {"workflow": {"nodes": []}}})
    images = result.outputs["2"]["images"]
    assert [i["filename"] for i in images] == ["cat_00042_.png", "cat_00043_.png"]
    assert images[0]["subfolder"] == "pics" and images[0]["type"] == "output"
    with Image.open(services.paths.output_dir / "pics" / "cat_00042_.png") as png:
        assert json.loads(png.text["prompt"])["2"]["class_type"] == "SaveImage"
        assert json.loads(png.text["workflow"]) == {"nodes": []}
        assert png.size == (32, 16)
        assert png.getpixel((0, 0))[:3] == (255, 128, 0)
    assert not list(services.paths.output_dir.rglob(".partial-*"))


def test_save_image_prefix_cannot_leave_output(env):
    services, registry, _ = env
    runner = PromptRunner(registry, make_cache(), services)
    validation = validate_prompt({"1": empty(), "2": save("1", "../../escape")}, registry, services)
    result = runner.run("p", validation.prompt, validation.outputs, lambda e: None)
    assert result.status == "error" and "leaves its folder" in result.error["exception_message"]
    assert not list(services.paths.base_dir.parent.glob("escape*"))


def test_load_image_mask_and_fingerprint(env):
    services, registry, run = env
    rgba = np.zeros((8, 10, 4), dtype=np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:4, :, 3] = 0
    Image.fromarray(rgba, "RGBA").save(services.paths.input_dir / "a.png")
    assert "a.png" in registry.object_info(services)["LoadImage"]["input"]["required"]["image"][0]
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}
    first = run(prompt)
    assert "1" in first.executed
    assert "1" not in run(prompt).executed  # same file hash: cached
    Image.fromarray(rgba[..., :3]).save(services.paths.input_dir / "a.png")  # same name, new content
    assert "1" in run(prompt).executed

    from nodes.image.images import load_image_file

    Image.fromarray(rgba, "RGBA").save(services.paths.input_dir / "b.png")
    image, mask = load_image_file(services.paths.input_dir / "b.png")
    assert image.shape == (1, 8, 10, 3) and mask.shape == (1, 8, 10)
    assert mask[0, 0, 0] == 1.0 and mask[0, 7, 0] == 0.0  # transparent pixels are 1 in the mask
    assert abs(float(image[0, 7, 0, 0]) - 200 / 255) < 1e-6


def test_load_image_missing_file_is_a_validation_error(env):
    services, registry, _ = env
    result = validate_prompt({"1": {"class_type": "LoadImage", "inputs": {"image": "nope.png"}},
                              "2": save("1")}, registry, services)
    assert not result.ok
    assert result.node_errors["1"]["errors"][0]["type"] == "custom_validation_failed"


def run_node(registry, services, class_type, **inputs):
    schema = registry.get(class_type)
    return schema.invoke(None, None, inputs)


def test_image_ops(env):
    services, registry, _ = env
    image = torch.rand(2, 20, 40, 3)
    scaled = run_node(registry, services, "ImageScale", image=image, upscale_method="bilinear", width=10, height=10,
                      crop="center")[0]
    assert scaled.shape == (2, 10, 10, 3)
    keep_ratio = run_node(registry, services, "ImageScale", image=image, upscale_method="lanczos", width=20, height=0,
                          crop="disabled")[0]
    assert keep_ratio.shape == (2, 10, 20, 3)
    assert torch.allclose(run_node(registry, services, "ImageInvert", image=image)[0], 1 - image)
    crop = run_node(registry, services, "ImageCrop", image=image, width=5, height=6, x=38, y=1)[0]
    assert crop.shape == (2, 6, 2, 3)
    batch = run_node(registry, services, "ImageBatch", image1=image, image2=torch.rand(1, 10, 10, 3))[0]
    assert batch.shape == (3, 20, 40, 3)
    blend = run_node(registry, services, "ImageBlend", image1=torch.zeros(1, 4, 4, 3), image2=torch.ones(1, 4, 4, 3),
                     blend_factor=0.25, blend_mode="normal")[0]
    assert torch.allclose(blend, torch.full_like(blend, 0.25))
    rebatched = run_node(registry, services, "RebatchImages", images=[torch.rand(3, 4, 4, 3), torch.rand(2, 4, 4, 3)],
                         batch_size=[2])[0]
    assert [b.shape[0] for b in rebatched] == [2, 2, 1]


def test_latents_and_masks(env):
    services, registry, _ = env
    assert run_node(registry, services, "EmptySD3LatentImage", width=64, height=32, batch_size=2)[0]["samples"].shape \
        == (2, 16, 4, 8)
    latent = run_node(registry, services, "EmptyLatentImage", width=64, height=64, batch_size=1)[0]
    assert latent["samples"].shape == (1, 4, 8, 8)
    up = run_node(registry, services, "LatentUpscale", samples=latent, upscale_method="nearest-exact", width=128,
                  height=0, crop="disabled")[0]
    assert up["samples"].shape == (1, 4, 16, 16)
    mask = run_node(registry, services, "SolidMask", value=0.25, width=3, height=2)[0]
    assert mask.shape == (1, 2, 3)
    assert torch.allclose(run_node(registry, services, "InvertMask", mask=mask)[0], torch.full((1, 2, 3), 0.75))


def test_nodes_register_without_importing_torch():
    code = ("import sys; sys.path.insert(0, '.');"
            "from execution.registry import NodeRegistry; from nodes import register_builtin_nodes;"
            "r = NodeRegistry(); register_builtin_nodes(r);"
            "heavy = [m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules];"
            "print(len(r), heavy); assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
