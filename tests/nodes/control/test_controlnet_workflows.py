"""The shipped ControlNet / IP-Adapter example workflows run headless (``main.py run``) on the demo
models, and the demo writes the control models and input pictures they need."""
from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = {
    "sd3_controlnet_canny.json": "plexus-sd3-controlnet-canny",
    "sd3_ip_adapter.json": "plexus-sd3-ip-adapter",
    "sd3_controlnet_ip_adapter.json": "plexus-sd3-controlnet-ip-adapter",
}


def test_demo_writes_control_models_and_inputs(demo_models_dir):
    from models.demo.control import (DEMO_CLIP_VISION, DEMO_CONTROLNET, DEMO_HINT_IMAGE, DEMO_IP_ADAPTER,
                                     DEMO_STYLE_IMAGE, write_demo_control)

    assert (demo_models_dir / "controlnet" / DEMO_CONTROLNET).is_file()
    assert (demo_models_dir / "clip_vision" / DEMO_CLIP_VISION / "config.json").is_file()
    assert (demo_models_dir / "ipadapter" / DEMO_IP_ADAPTER).is_file()
    for name in (DEMO_HINT_IMAGE, DEMO_STYLE_IMAGE):
        assert (demo_models_dir.parent / "input" / name).is_file()
    assert write_demo_control(demo_models_dir) == [], "present files are kept unless force"


@pytest.mark.parametrize("workflow", sorted(WORKFLOWS))
def test_example_workflow_runs_headless(workflow, demo_models_dir, tmp_path, capsys):
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
        assert "prompt" in image.info, "the PNG carries the API prompt"
