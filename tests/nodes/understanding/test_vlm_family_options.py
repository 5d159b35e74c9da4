"""VLMCaption's family-specific inputs: declared with their families in /object_info, the loader's
models listed with their family, Qwen-VL's resize bounds applied as the image processor applies
them, and a value given to a family that does not use it ignored with a warning."""
from __future__ import annotations

import pytest

from tests.fixtures.vlm import random_image

PROMPT = "What is in the image?"


def test_object_info_lists_the_families_of_options_and_models(vlm_env):
    info = vlm_env.registry.object_info(vlm_env.services)
    caption = info["VLMCaption"]["input"]["optional"]
    qwen = {"qwen2_vl", "qwen2_5_vl", "qwen3_vl"}
    assert set(caption["min_pixels"][1]["families"]) == qwen == set(caption["max_pixels"][1]["families"])
    assert {"qwen2_vl", "qwen2_5_vl"} <= set(caption["video"][1]["families"])
    assert not {"llava", "blip-2", "fuyu"} & set(caption["video"][1]["families"])
    specs = {**info["VLMCaption"]["input"]["required"], **caption}
    assert [name for name, spec in specs.items() if isinstance(spec[-1], dict) and "families" in spec[-1]] == ["min_pixels", "max_pixels", "video"]
    names, options = info["VLMLoader"]["input"]["required"]["vlm_name"]
    families = options["choice_families"]
    assert {name: families.get(name) for name in ("tiny-llava", "tiny-llava-next", "tiny-blip2-opt", "tiny-qwen2-vl",
                                                  "tiny-qwen3-vl", "tiny-fuyu")} == {
        "tiny-llava": "llava", "tiny-llava-next": "llava_next", "tiny-blip2-opt": "blip-2",
        "tiny-qwen2-vl": "qwen2_vl", "tiny-qwen3-vl": "qwen3_vl", "tiny-fuyu": "fuyu"}
    assert set(families) <= set(names)


def test_qwen_resize_bounds_are_the_image_processors(vlm_env, vlm_models_dir):
    import torch
    from transformers import Qwen2VLImageProcessorPil

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / "tiny-qwen2.5-vl"
    picture = tensor_to_pil_images(random_image(80, 64, 64))[0]
    vlm = vlm_env.load(vlm_loader, "tiny-qwen2.5-vl")
    bounds = {"shortest_edge": 16 * 16, "longest_edge": 32 * 32}
    expected = Qwen2VLImageProcessorPil.from_pretrained(folder)(images=[picture], size=bounds, return_tensors="pt")
    ours = vlm.prepare(picture, PROMPT, min_pixels=16 * 16, max_pixels=32 * 32)
    default = vlm.prepare(picture, PROMPT)
    assert torch.equal(ours["pixel_values"], expected["pixel_values"])
    assert torch.equal(ours["image_grid_thw"], expected["image_grid_thw"])
    image_tokens = int((ours["input_ids"] == vlm.processor.image_token_id).sum())
    assert image_tokens == int(expected["image_grid_thw"].prod()) // 4 < int(default["image_grid_thw"].prod()) // 4
    # boxes of Qwen2.5-VL are in the resized picture's pixels: the bounds change that space
    assert vlm.family.box_space(vlm.processor, 64, 64, max_pixels=32 * 32) == (32.0, 32.0)
    assert vlm.family.box_space(vlm.processor, 64, 64) == (64.0, 64.0)

    # the node: the reply is model.generate's on the bounded inputs
    events: list = []
    image = random_image(80, 64, 64)
    reply = vlm_caption(vlm_env.context(events), vlm, image, PROMPT, 6, min_pixels=16 * 16, max_pixels=32 * 32)[0]
    output = vlm.model.generate(**ours, max_new_tokens=6, do_sample=False)
    assert reply == [vlm.tokenizer.decode(output[0, ours["input_ids"].shape[1]:], skip_special_tokens=True).strip()]
    assert not [e for e in events if e.type == "warning"]
    with pytest.raises(ValueError, match="min_pixels .* is more than max_pixels"):
        vlm.prepare(picture, PROMPT, min_pixels=64 * 64, max_pixels=32 * 32)


def test_an_option_for_another_family_is_ignored_with_a_warning(vlm_env):
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-llava")
    image = random_image(81)
    plain = vlm_caption(vlm_env.context(), vlm, image, PROMPT, 5)[0]
    events: list = []
    assert vlm_caption(vlm_env.context(events), vlm, image, PROMPT, 5, max_pixels=1024)[0] == plain
    warnings = [e.message for e in events if e.type == "warning"]
    assert warnings == ["max_pixels applies to Qwen2-VL, Qwen2.5-VL, Qwen3-VL models only; ignored for tiny-llava "
                        "(LLaVA 1.5)"]
    with pytest.raises(ValueError, match="does not use min_pixels"):
        vlm.prepare(image, PROMPT, min_pixels=1024)  # the model API refuses it outright
