"""The shipped SD 1.5 / SDXL IP-Adapter workflows run headless (``main.py run``) on the demo models, and
the demo writes the tiny adapters and image encoder they need."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = {"sd15_ip_adapter_api.json": "plexus-sd15-ip-adapter", "sdxl_ip_adapter_api.json": "plexus-sdxl-ip-adapter"}


def test_demo_writes_the_adapters_and_encoder(demo_models_dir):
    from models.demo.ip_adapter_unet import ADAPTERS, CLIP_VISION_FILE, write_demo_unet_ip_adapter

    assert (demo_models_dir / "clip_vision" / CLIP_VISION_FILE).is_file()
    assert all((demo_models_dir / "ipadapter" / name).is_file() for name in ADAPTERS)
    assert write_demo_unet_ip_adapter(demo_models_dir) == [], "present files are kept unless force"


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_ip_adapter_workflow_runs_headless(workflow, demo_models_dir, tmp_path, capsys):
    import main

    output_dir = tmp_path / "output"
    code = main.main(["--base-directory", str(demo_models_dir.parent), "--output-directory", str(output_dir),
                      "--temp-directory", str(tmp_path / "temp"), "run", str(ROOT / "workflows" / workflow),
                      "--quiet", "--set", "KSampler.steps=2"])
    out = capsys.readouterr().out
    assert code == 0, out
    saved = sorted(output_dir.glob(f"{WORKFLOWS[workflow]}_*.png"))
    assert len(saved) == 1, out
    with Image.open(saved[0]) as image:
        assert image.size == (256, 256)
        assert "UNetIPAdapterApply" in image.info["prompt"]
