"""ConditioningSetArea and ConditioningSetMask: the sampler honours areas and masks."""
from __future__ import annotations

import numpy as np
import torch

from models.demo.sd3 import CHECKPOINT
from tests.models.sd3.test_sd3_fidelity import t2i_prompt


def image_of(env, prompt) -> np.ndarray:
    result = env.run(prompt)
    assert result.status == "success", result.error
    return env.captured["image"].numpy().copy()


def test_region_weights():
    from models.sd3.regions import region_of

    box, weight = region_of({"area": (4, 6, 2, 2), "strength": 2.0}, (1, 16, 16, 16))
    assert box == (2, 6, 2, 8) and weight.shape == (1, 1, 4, 6)
    assert weight.max() <= 2.0 * 2 / 8 + 1e-6  # a small area inside the latent is feathered on every side
    box, weight = region_of({"area": (16, 16, 0, 0)}, (1, 16, 16, 16))
    assert box == (0, 16, 0, 16) and weight.min() == 1.0  # the whole latent: no feathering
    mask = torch.zeros(1, 128, 128)
    mask[:, 32:64, 16:48] = 1.0
    box, weight = region_of({"mask": mask, "mask_strength": 0.5, "set_area_to_bounds": True}, (1, 16, 16, 16))
    assert box == (4, 8, 2, 6) and weight.max() == 0.5


def test_whole_area_and_full_mask_equal_plain_conditioning(sd3_capture_env):
    env = sd3_capture_env
    plain = image_of(env, t2i_prompt(CHECKPOINT, seed=4, steps=2))
    prompt = t2i_prompt(CHECKPOINT, seed=4, steps=2)
    prompt["30"] = {"class_type": "ConditioningSetArea", "inputs": {
        "conditioning": ["2", 0], "width": 64, "height": 64, "x": 0, "y": 0, "strength": 1.0}}
    prompt["5"]["inputs"]["positive"] = ["30", 0]
    assert np.abs(image_of(env, prompt) - plain).max() <= 1e-5
    prompt["31"] = {"class_type": "SolidMask", "inputs": {"value": 1.0, "width": 64, "height": 64}}
    prompt["30"] = {"class_type": "ConditioningSetMask", "inputs": {
        "conditioning": ["2", 0], "mask": ["31", 0], "strength": 1.0, "set_cond_area": "default"}}
    assert np.abs(image_of(env, prompt) - plain).max() <= 1e-5


def test_two_areas_each_shape_their_half(sd3_capture_env):
    env = sd3_capture_env
    prompt = t2i_prompt(CHECKPOINT, seed=4, steps=2, size=128)
    prompt["32"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "a blue lake at night", "clip": ["1", 1]}}
    prompt["30"] = {"class_type": "ConditioningSetArea", "inputs": {
        "conditioning": ["2", 0], "width": 64, "height": 128, "x": 0, "y": 0, "strength": 1.0}}
    prompt["31"] = {"class_type": "ConditioningSetArea", "inputs": {
        "conditioning": ["32", 0], "width": 64, "height": 128, "x": 64, "y": 0, "strength": 1.0}}
    prompt["33"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["30", 0],
                                                                   "conditioning_2": ["31", 0]}}
    prompt["5"]["inputs"]["positive"] = ["33", 0]
    both = image_of(env, prompt)
    first_only = image_of(env, t2i_prompt(CHECKPOINT, seed=4, steps=2, size=128))
    assert both.shape == first_only.shape and np.abs(both - first_only).max() > 1e-3
