"""Mask nodes with ComfyUI's names (comfy_extras.nodes_mask): values on small masks; GrowMask
against scipy's grey dilation and erosion with the same windows."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.image import mask as mask_nodes


def test_mask_image_conversions():
    mask = torch.tensor([[[0.0, 0.5], [1.0, 0.25]]])
    image = mask_nodes.mask_to_image(mask)[0]
    assert image.shape == (1, 2, 2, 3) and torch.equal(image[..., 1], mask)
    rgba = torch.rand(2, 3, 4, 4)
    assert torch.equal(mask_nodes.image_to_mask(rgba, "alpha")[0], rgba[..., 3])
    with pytest.raises(ValueError, match="no alpha channel"):
        mask_nodes.image_to_mask(rgba[..., :3], "alpha")
    colours = torch.tensor([[[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]]])
    assert mask_nodes.image_color_to_mask(colours, 0xFF0000)[0].tolist() == [[[1.0, 0.0]]]
    assert mask_nodes.threshold_mask(mask, 0.4)[0].tolist() == [[[0.0, 1.0], [1.0, 0.0]]]


def test_crop_and_composite():
    mask = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4) / 16
    assert torch.equal(mask_nodes.crop_mask(mask, 1, 2, 2, 5)[0], mask[:, 2:4, 1:3])
    destination = torch.full((1, 3, 3), 0.5)
    source = torch.ones(1, 2, 2)
    added = mask_nodes.mask_composite(destination, source, 2, 1, "add")[0]
    assert added.tolist() == [[[0.5, 0.5, 0.5], [0.5, 0.5, 1.0], [0.5, 0.5, 1.0]]]
    multiplied = mask_nodes.mask_composite(destination, source * 0.5, 0, 0, "multiply")[0]
    assert multiplied[0, 0, 0] == 0.25 and multiplied[0, 2, 2] == 0.5
    xor = mask_nodes.mask_composite(torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[1.0, 1.0]]]), 0, 0, "xor")[0]
    assert xor.tolist() == [[[0.0, 1.0]]]
    assert torch.equal(mask_nodes.mask_composite(destination, source, 3, 3, "subtract")[0], destination)


@pytest.mark.parametrize("tapered", [True, False])
@pytest.mark.parametrize("expand", [2, -1])
def test_grow_mask_matches_scipy_grey_morphology(tapered, expand):
    from scipy import ndimage

    rng = np.random.default_rng(0)
    mask = (rng.random((2, 9, 11)) > 0.7).astype(np.float32) * rng.random((2, 9, 11)).astype(np.float32)
    footprint = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool) if tapered else np.ones((3, 3), bool)
    expected = mask.copy()
    for index in range(2):
        for _ in range(abs(expand)):
            morph = ndimage.grey_dilation if expand > 0 else ndimage.grey_erosion
            expected[index] = morph(expected[index], footprint=footprint, mode="reflect")
    grown = mask_nodes.grow_mask(torch.from_numpy(mask), expand, tapered)[0]
    np.testing.assert_array_equal(grown.numpy(), expected)


def test_feather_mask_ramps_to_each_edge():
    feathered = mask_nodes.feather_mask(torch.ones(1, 3, 5), 2, 0, 1, 3)[0]
    left_band = torch.tensor([0.5, 1.0, 1.0, 1.0, 1.0])  # left band of 2: 1/2, 2/2
    assert torch.allclose(feathered[0, 0], left_band)  # the top row is the bottom band's 3rd pixel: 3/3
    assert torch.allclose(feathered[0, 2], left_band / 3)  # the bottom row is its 1st: 1/3
    assert torch.allclose(feathered[0, :, 4], torch.tensor([1.0, 2 / 3, 1 / 3]))  # a right band of 1: 1/1
