"""The template corpus's image nodes: ImageStitch, ResizeAndPadImage, ResizeImageMaskNode,
BatchImagesNode (an Autogrow input) and SaveImageAdvanced (a DynamicCombo), each on small arrays
with exact pixels, and through the real validator and runner with the frontend's dotted names."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

RED, GREEN, BLUE, WHITE, BLACK = (1.0, 0, 0), (0, 1.0, 0), (0, 0, 1.0), (1.0, 1.0, 1.0), (0, 0, 0)


def solid(height: int, width: int, color, batch: int = 1) -> torch.Tensor:
    return torch.tensor(color, dtype=torch.float32).expand(batch, height, width, 3).clone()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from tests.fixtures.zoo import CAPTURED, SD3Env, _capture_schemas

    base = tmp_path_factory.mktemp("image_nodes")
    environment = SD3Env(base, base / "models", preview_method="none")
    environment.registry.add_all(_capture_schemas())
    environment.captured = CAPTURED
    yield environment
    environment.close()


# -- ImageStitch ------------------------------------------------------------------------------------
def test_stitch_right_with_a_black_gap_and_padding_across():
    from nodes.image.stitch import image_stitch

    image1, image2 = solid(2, 2, RED), solid(4, 3, GREEN)
    (out,) = image_stitch(image1, "right", False, 2, "black", image2)
    assert out.shape == (1, 4, 7, 3)
    expected = torch.zeros(1, 4, 7, 3)
    expected[0, 1:3, 0:2] = torch.tensor(RED)  # image1 centred in the taller height, black around it
    expected[0, :, 4:7] = torch.tensor(GREEN)
    assert torch.equal(out, expected)


def test_stitch_pads_white_for_white_and_orders_left_and_up():
    from nodes.image.stitch import image_stitch

    image1, image2 = solid(2, 2, RED), solid(4, 2, BLUE)
    (left,) = image_stitch(image1, "left", False, 0, "white", image2)
    assert torch.equal(left[0, :, :2], image2[0]) and torch.equal(left[0, 0, 2:], solid(1, 2, WHITE)[0, 0])
    (up,) = image_stitch(solid(2, 2, RED), "up", False, 2, "red", solid(2, 2, BLUE))
    assert up.shape == (1, 6, 2, 3)
    assert torch.equal(up[0, :2], solid(2, 2, BLUE)[0]) and torch.equal(up[0, 2:4], solid(2, 2, RED)[0])
    assert torch.equal(up[0, 4:], solid(2, 2, RED)[0])  # the gap, red, then image1


def test_stitch_matches_size_keeping_aspect_and_passes_image1_alone():
    from nodes.image.stitch import image_stitch

    image1 = solid(4, 4, RED)
    (out,) = image_stitch(image1, "down", True, 0, "white", solid(2, 4, GREEN))
    assert out.shape == (1, 4 + 2, 4, 3)  # image2 already has image1's width
    (wide,) = image_stitch(image1, "right", True, 0, "white", solid(2, 4, GREEN))
    assert wide.shape == (1, 4, 12, 3) and torch.allclose(wide[0, :, 4:], solid(4, 8, GREEN)[0])
    assert image_stitch(image1, "right", True, 0, "white", None)[0] is image1
    (batched,) = image_stitch(solid(2, 2, RED, batch=2), "right", False, 0, "white", solid(2, 2, BLUE))
    assert batched.shape == (2, 2, 4, 3) and torch.equal(batched[1, :, 2:], solid(2, 2, BLUE)[0])


# -- ResizeAndPadImage --------------------------------------------------------------------------------
def test_resize_and_pad_centres_the_fitted_image():
    from nodes.image.resize_mask import resize_and_pad_image

    (padded,) = resize_and_pad_image(solid(2, 4, RED), 4, 4, "white", "area")
    expected = solid(4, 4, WHITE)
    expected[0, 1:3] = torch.tensor(RED)
    assert torch.equal(padded, expected)
    checker = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).repeat_interleave(2, 0).repeat_interleave(2, 1)
    image = checker[None, :, :, None].expand(1, 4, 4, 3).clone()
    (fitted,) = resize_and_pad_image(image, 6, 2, "black", "nearest-exact")  # 4x4 -> 2x2, centred in 6x2
    assert fitted.shape == (1, 2, 6, 3)
    assert torch.equal(fitted[0, :, 2:4, 0], torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    assert fitted[0, :, :2].max() == 0 and fitted[0, :, 4:].max() == 0


# -- ResizeImageMaskNode ------------------------------------------------------------------------------
@pytest.mark.parametrize("resize,expected", [
    ({"resize_type": "scale by multiplier", "multiplier": 1.5}, (60, 30)),
    ({"resize_type": "scale dimensions", "width": 100, "height": 0, "crop": "center"}, (100, 50)),
    ({"resize_type": "scale longer dimension", "longer_size": 20}, (20, 10)),
    ({"resize_type": "scale shorter dimension", "shorter_size": 40}, (80, 40)),
    ({"resize_type": "scale width", "width": 10}, (10, 5)),
    ({"resize_type": "scale height", "height": 10}, (20, 10)),
    ({"resize_type": "scale total pixels", "megapixels": 0.01}, (145, 72)),
])
def test_resize_types_give_comfyui_sizes(resize, expected):
    from nodes.image.resize_mask import target_size

    assert target_size(40, 20, resize)[:2] == expected


def test_resize_image_mask_on_masks_images_crop_and_match():
    from nodes.image.resize_mask import resize_image_mask

    mask = torch.tensor([[[0.0, 1.0], [1.0, 0.0]]])
    (grown,) = resize_image_mask(mask, {"resize_type": "scale by multiplier", "multiplier": 2.0}, "nearest-exact")
    assert grown.shape == (1, 4, 4) and torch.equal(grown, mask.repeat_interleave(2, 1).repeat_interleave(2, 2))
    image = torch.zeros(1, 2, 4, 3)
    image[0, :, 1:3] = 1.0  # the two middle columns are white
    square = {"resize_type": "scale dimensions", "width": 2, "height": 2, "crop": "center"}
    (cropped,) = resize_image_mask(image, square, "nearest-exact")
    assert torch.equal(cropped, torch.ones(1, 2, 2, 3))
    (matched,) = resize_image_mask(image, {"resize_type": "match size", "match": torch.zeros(1, 3, 5, 3),
                                           "crop": "disabled"}, "bilinear")
    assert matched.shape == (1, 3, 5, 3)


# -- through the validator and runner: dotted names, as the frontend writes them -----------------------
def _empty(color: int, width: int, height: int) -> dict:
    return {"class_type": "EmptyImage", "inputs": {"width": width, "height": height, "batch_size": 1, "color": color}}


def test_batch_images_node_takes_its_grown_sockets_in_order(env):
    prompt = {
        "1": _empty(0xFF0000, 4, 4), "2": _empty(0x00FF00, 8, 2), "3": _empty(0x0000FF, 4, 4),
        "4": {"class_type": "BatchImagesNode",  # sockets listed out of order: the batch follows their numbers
              "inputs": {"images.image2": ["3", 0], "images.image0": ["1", 0], "images.image1": ["2", 0]}},
        "5": {"class_type": "TestCaptureImage", "inputs": {"images": ["4", 0], "key": "batch"}},
    }
    assert env.run(prompt).status == "success"
    batch = env.captured["batch"]
    assert batch.shape == (3, 4, 4, 3)
    assert torch.equal(batch[0], solid(4, 4, RED)[0]) and torch.equal(batch[2], solid(4, 4, BLUE)[0])
    assert torch.allclose(batch[1], solid(4, 4, GREEN)[0])  # resized to the first image's size


def test_dynamic_inputs_are_validated_by_their_dotted_names(env):
    from execution.validate import validate_prompt

    prompt = {
        "1": _empty(0, 4, 4),
        "2": {"class_type": "BatchImagesNode", "inputs": {"images.image1": ["1", 0]}},
        "3": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["2", 0], "resize_type": "scale dimensions", "resize_type.width": -1,
            "resize_type.height": 8, "resize_type.crop": "center", "scale_method": "area"}},
        "4": {"class_type": "ResizeImageMaskNode", "inputs": {
            "input": ["1", 0], "resize_type": "scale sideways", "scale_method": "area"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["3", 0]}},
        "6": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    errors = validate_prompt(prompt, env.registry, env.services).response()["node_errors"]
    assert [(e["type"], e["details"]) for e in errors["2"]["errors"]] == [("required_input_missing", "images.image0")]
    assert [(e["type"], e["details"]) for e in errors["3"]["errors"]] == [("value_smaller_than_min", "resize_type.width")]
    assert errors["4"]["errors"][0]["type"] == "value_not_in_list"


def test_object_info_publishes_the_frontend_shapes(env):
    info = env.registry.get("SaveImageAdvanced").object_info(env.services)
    kind, options = info["input"]["required"]["format"]
    assert kind == "COMFY_DYNAMICCOMBO_V3" and [o["key"] for o in options["options"]] == ["png", "exr", "avif"]
    assert options["options"][0]["inputs"]["required"]["bit_depth"] == [["8-bit", "16-bit"], {
        "default": "8-bit", "tooltip": "The bit depth used when saving the image."}]
    assert info["input_order"]["required"] == ["images", "filename_prefix", "format"]
    grow = env.registry.get("BatchImagesNode").object_info(env.services)["input"]["required"]["images"]
    assert grow == ["COMFY_AUTOGROW_V3", {"template": {"input": {"required": {"image": ["IMAGE"]}},
                                                       "prefix": "image", "min": 1, "max": 50}}]


def test_editor_widgets_values_follow_the_chosen_option(env):
    from execution.workflow import convert_workflow

    workflow = {"nodes": [
        {"id": 1, "type": "ResizeImageMaskNode", "inputs": [{"name": "input", "type": "IMAGE,MASK", "link": None}],
         "widgets_values": ["scale total pixels", 1, "lanczos"]},
        {"id": 2, "type": "SaveImageAdvanced", "inputs": [{"name": "images", "type": "IMAGE", "link": None}],
         "widgets_values": ["shots", "png", "16-bit", "sRGB"]}], "links": []}
    prompt = convert_workflow(workflow, env.registry).prompt
    assert prompt["1"]["inputs"] == {"resize_type": "scale total pixels", "resize_type.megapixels": 1,
                                     "scale_method": "lanczos"}
    assert prompt["2"]["inputs"] == {"filename_prefix": "shots", "format": "png", "format.bit_depth": "16-bit",
                                     "format.input_color_space": "sRGB"}


def test_cli_set_reaches_a_dotted_input(env):
    from app.overrides import apply_overrides
    from execution.workflow import convert_workflow

    workflow = {"nodes": [{"id": 2, "type": "SaveImageAdvanced", "inputs": [{"name": "images", "type": "IMAGE",
                                                                            "link": None}],
                           "widgets_values": ["shots", "png", "8-bit", "sRGB"]}], "links": []}
    prompt = convert_workflow(workflow, env.registry).prompt
    edited, warnings = apply_overrides(prompt, workflow, ["SaveImageAdvanced.format.bit_depth=16-bit"], env.registry)
    assert prompt["2"]["inputs"]["format.bit_depth"] == "16-bit" and not warnings
    assert edited["nodes"][0]["widgets_values"] == ["shots", "png", "16-bit", "sRGB"]


# -- SaveImageAdvanced -----------------------------------------------------------------------------------
def _save(prefix: str, **format_inputs) -> dict:
    pixels = {"class_type": "EmptyImage", "inputs": {"width": 3, "height": 2, "batch_size": 2, "color": 0x336699}}
    return {"1": pixels,
            "2": {"class_type": "SaveImageAdvanced", "inputs": {"images": ["1", 0], "filename_prefix": prefix,
                                                               **format_inputs}},
            "3": {"class_type": "TestCaptureImage", "inputs": {"images": ["2", 0], "key": prefix}}}


def _saved(env) -> list[dict]:
    return [item for e in env.events if type(e).__name__ == "Executed" for item in e.output.get("images", [])]


def test_save_image_advanced_png_8_bit_names_and_metadata(env):
    from PIL import Image

    result = env.run(_save("adv/eight", **{"format": "png", "format.bit_depth": "8-bit",
                                           "format.input_color_space": "sRGB"}))
    assert result.status == "success", result.error.get("exception_message")
    saved = _saved(env)
    assert [s["filename"] for s in saved] == ["eight_00001.png", "eight_00002.png"]  # no trailing "_"
    assert saved[0]["subfolder"] == "adv" and saved[0]["type"] == "output"
    with Image.open(env.services.paths.output_dir / "adv" / "eight_00001.png") as png:
        assert png.mode == "RGB" and png.getpixel((0, 0)) == (0x33, 0x66, 0x99)
        assert json.loads(png.text["prompt"])["2"]["class_type"] == "SaveImageAdvanced"
    assert env.captured["adv/eight"].shape == (2, 2, 3, 3)  # the images pass through


def test_save_image_advanced_png_16_bit_is_exact(env):
    import cv2

    result = env.run(_save("sixteen", **{"format": "png", "format.bit_depth": "16-bit",
                                         "format.input_color_space": "sRGB"}))
    assert result.status == "success", result.error.get("exception_message")
    path = env.services.paths.output_dir / _saved(env)[0]["filename"]
    pixels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)  # an independent decoder (BGR order)
    assert pixels.dtype == np.uint16 and pixels.shape == (2, 3, 3)
    expected = np.clip(65535.0 * np.array([0x33, 0x66, 0x99], dtype=np.float32) / 255.0, 0, 65535).astype(np.uint16)
    assert (pixels[..., ::-1] == expected).all()
    from PIL import Image

    with Image.open(path) as png:
        assert json.loads(png.text["prompt"])["2"]["inputs"]["format.bit_depth"] == "16-bit"


def test_save_image_advanced_avif_and_exr(env):
    from PIL import Image

    from execution.validate import validate_prompt

    result = env.run(_save("small", **{"format": "avif", "format.bit_depth": "8-bit",
                                       "format.input_color_space": "sRGB", "format.crf": 10}))
    assert result.status == "success", result.error.get("exception_message")
    with Image.open(env.services.paths.output_dir / "small_00001.avif") as avif:
        assert avif.format == "AVIF" and avif.size == (3, 2)
    refused = validate_prompt(_save("hdr", **{"format": "exr", "format.bit_depth": "32-bit float",
                                              "format.input_color_space": "linear"}), env.registry, env.services)
    (problem,) = refused.response()["node_errors"]["2"]["errors"]
    assert problem["type"] == "custom_validation_failed" and "EXR is not available" in problem["details"]
