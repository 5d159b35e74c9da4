"""Core utility nodes from ComfyUI's set: sizes, padding, compositing, latent scaling, text, switch."""
from __future__ import annotations

import pytest
import torch


def test_image_scale_by_and_to_total_pixels():
    from nodes.image.resize import image_scale_by, image_scale_to_total_pixels

    image = torch.rand(2, 30, 40, 3)
    assert image_scale_by(image, "bilinear", 1.5)[0].shape == (2, 45, 60, 3)
    (scaled,) = image_scale_to_total_pixels(image, "area", 0.01, 1)  # 0.01 MP = 10486 px at 4:3
    assert scaled.shape == (2, 89, 118, 3)
    (stepped,) = image_scale_to_total_pixels(image, "nearest-exact", 1.0, 16)
    assert stepped.shape[1] % 16 == 0 and stepped.shape[2] % 16 == 0
    assert abs(stepped.shape[1] * stepped.shape[2] - 1024 * 1024) / (1024 * 1024) < 0.03


def test_get_image_size_reports_on_the_node(sd3_env):
    from nodes.image.resize import get_image_size

    events: list = []
    assert get_image_size(sd3_env.context(events), torch.zeros(3, 20, 50, 3)) == (50, 20, 3)
    assert events[0].text == "width: 50, height: 20\n batch size: 3"


def test_image_pad_for_outpaint():
    from nodes.image.compose import image_pad_for_outpaint

    image = torch.rand(1, 100, 120, 3)
    padded, mask = image_pad_for_outpaint(image, 8, 0, 16, 0, 0)
    assert padded.shape == (1, 100, 144, 3) and mask.shape == (1, 100, 144)
    assert torch.equal(padded[:, :, 8:128], image) and float(padded[0, 0, 0, 0]) == 0.5
    assert mask[0, :, :8].min() == 1 and mask[0, :, 8:128].max() == 0 and mask[0, :, 128:].min() == 1
    _, feathered = image_pad_for_outpaint(image, 8, 0, 0, 0, 10)
    inner = feathered[0, :, 8:]
    assert inner[50, 0] == 1.0 and 0 < inner[50, 5] < 1 and inner[50, 10] == 0  # ramps from the padded left only
    assert inner[0, 60] == 0  # the unpadded top edge is not feathered


def test_image_composite_masked_clips_and_masks():
    from nodes.image.compose import image_composite_masked

    destination, source = torch.zeros(1, 10, 10, 3), torch.ones(1, 4, 4, 3)
    (pasted,) = image_composite_masked(destination, source, 8, 1, False)
    assert pasted[0, 1:5, 8:].min() == 1 and pasted.sum() == 2 * 4 * 3  # clipped at the right edge
    mask = torch.zeros(1, 4, 4)
    mask[:, :, :2] = 1
    (half,) = image_composite_masked(destination, source, 0, 0, False, mask)
    assert half[0, 0, 0, 0] == 1 and half[0, 0, 3, 0] == 0
    (stretched,) = image_composite_masked(destination, source, 0, 0, True)
    assert stretched.min() > 0.999
    assert destination.max() == 0  # inputs are not modified


def test_latent_upscale_by_keeps_other_entries():
    from nodes.generation.latent import latent_upscale_by

    latent = {"samples": torch.rand(1, 16, 8, 10), "batch_index": [3]}
    (scaled,) = latent_upscale_by(latent, "nearest-exact", 1.5)
    assert scaled["samples"].shape == (1, 16, 12, 15) and scaled["batch_index"] == [3]


def test_preview_any_and_string_concatenate():
    from nodes.basics.text import preview_any, string_concatenate

    assert preview_any("hi")["ui"]["text"] == ["hi"]
    assert preview_any(3)["ui"]["text"] == ["3"] and preview_any(None)["ui"]["text"] == ["None"]
    assert preview_any({"a": [1, 2]})["ui"]["text"] == ['{\n    "a": [\n        1,\n        2\n    ]\n}']
    assert preview_any(object())["ui"]["text"][0].startswith("<object")
    assert string_concatenate("a", "b", ", ") == ("a, b",)


@pytest.mark.parametrize("switch", [True, False])
def test_switch_runs_only_the_selected_branch(sd3_env, switch):
    from execution.declare import Out, String, node

    @node("TestExplode", category="_test", inputs=[String("why", "")], outputs=[Out("STRING")])
    def explode(why=""):
        raise RuntimeError("the unselected branch ran")

    sd3_env.registry.add(explode.__node_schema__)
    prompt = {
        "1": {"class_type": "PrimitiveString", "inputs": {"value": "chosen"}},
        "2": {"class_type": "TestExplode", "inputs": {"why": "x"}},
        "3": {"class_type": "ComfySwitchNode", "inputs": {
            "switch": switch, "on_true": ["1", 0] if switch else ["2", 0], "on_false": ["2", 0] if switch else ["1", 0]}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    result = sd3_env.run(prompt)
    assert result.status == "success", result.error
    texts = [e for e in sd3_env.events if type(e).__name__ == "Executed" and e.node == "4"]
    assert texts[0].output == {"text": ["chosen"]}


def test_save_image_websocket_sends_full_size_png_frames(sd3_env):
    import io

    import numpy as np
    from PIL import Image

    from nodes.image.websocket import save_image_websocket
    from web.previews import FORMAT_PNG, PREVIEW_IMAGE, parse_frame, png_frame

    images = torch.full((2, 600, 700, 3), 0.999)
    images[1] = 0.25
    events: list = []
    save_image_websocket(sd3_env.context(events), images)
    frames = [e for e in events if type(e).__name__ == "ImageFrame"]
    assert len(frames) == 2
    kind, fields = parse_frame(png_frame(frames[1].png))
    assert kind == PREVIEW_IMAGE and fields["format"] == FORMAT_PNG
    decoded = np.asarray(Image.open(io.BytesIO(fields["image"])))
    assert decoded.shape == (600, 700, 3) and decoded.max() == 63  # full size; 0.25 truncates to 63
    assert np.asarray(Image.open(io.BytesIO(frames[0].png))).max() == 254


def test_mask_batch_string_and_sigma_helpers(sd3_env):
    from nodes.basics.text import string_replace
    from nodes.generation.custom_sampling import manual_sigmas
    from nodes.generation.latent import set_latent_noise_mask
    from nodes.image.batch import image_from_batch
    from nodes.image.mask import image_to_mask, join_image_with_alpha, mask_preview, mask_to_image

    image = torch.rand(3, 8, 10, 3)
    assert torch.equal(image_to_mask(image, "green")[0], image[..., 1])
    grey = mask_to_image(torch.rand(8, 10))[0]
    assert grey.shape == (1, 8, 10, 3) and torch.equal(grey[..., 0], grey[..., 2])
    rgba = join_image_with_alpha(image, torch.ones(1, 4, 5))[0]
    assert rgba.shape == (3, 8, 10, 4) and rgba[..., 3].max() == 0
    assert torch.equal(image_from_batch(image, 1, 5)[0], image[1:])
    assert torch.equal(image_from_batch(image, 9, 1)[0], image[2:])
    assert string_replace("a-b-c", "-", "+") == ("a+b+c",)
    assert manual_sigmas("1, 0.5 .25,0")[0].tolist() == [1.0, 0.5, 0.25, 0.0]
    masked = set_latent_noise_mask({"samples": torch.zeros(1, 16, 8, 8)}, torch.ones(64, 64))[0]
    assert masked["noise_mask"].shape == (1, 1, 64, 64)
    shown = mask_preview(sd3_env.context(), torch.rand(1, 8, 8))
    assert shown["ui"]["images"][0]["type"] == "temp"


def test_image_compare_previews_both_sides(sd3_env):
    from nodes.image.compare import image_compare

    shown = image_compare(sd3_env.context(), torch.rand(1, 8, 8, 3), torch.rand(2, 8, 8, 3))["ui"]
    assert len(shown["a_images"]) == 1 and len(shown["b_images"]) == 2
    assert all(item["type"] == "temp" for item in shown["a_images"] + shown["b_images"])
    assert image_compare(sd3_env.context(), None, None)["ui"] == {"a_images": [], "b_images": []}
