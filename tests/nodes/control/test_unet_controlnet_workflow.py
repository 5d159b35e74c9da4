"""The shipped SDXL ControlNet workflow (Canny hint, the demo's SDXL ControlNet written in the original
LDM layout) runs headless (``main.py run``) on the demo models."""
from __future__ import annotations

from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[3]


def test_demo_writes_the_sdxl_controlnet_in_the_original_layout(demo_models_dir):
    from safetensors import safe_open

    from models.demo.stable_diffusion import CONTROLNET_SDXL, write_demo_unet

    with safe_open(str(demo_models_dir / "controlnet" / CONTROLNET_SDXL), framework="pt") as handle:
        names = set(handle.keys())
    assert "input_hint_block.0.weight" in names and "label_emb.0.0.weight" in names
    assert not any(n.startswith("controlnet_") for n in names)
    assert write_demo_unet(demo_models_dir) == [], "present files are kept unless force"


def test_sdxl_controlnet_workflow_runs_headless(demo_models_dir, tmp_path, capsys):
    import main

    output_dir = tmp_path / "output"
    code = main.main(["--base-directory", str(demo_models_dir.parent), "--output-directory", str(output_dir),
                      "--temp-directory", str(tmp_path / "temp"), "run",
                      str(ROOT / "workflows" / "sdxl_controlnet_canny_api.json"), "--quiet",
                      "--set", "KSampler.steps=2"])
    out = capsys.readouterr().out
    assert code == 0, out
    saved = sorted(output_dir.glob("plexus-sdxl-controlnet-canny_*.png"))
    assert len(saved) == 1, out
    with Image.open(saved[0]) as image:
        assert image.size == (256, 256)
        assert "ControlNetApplyAdvanced" in image.info["prompt"]
