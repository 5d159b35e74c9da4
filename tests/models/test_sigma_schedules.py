"""kl_optimal, linear_quadratic, beta57 and ddim_uniform against their defining formulas, on both the
SD 1.5 table and a flow model's sigmas."""
from __future__ import annotations

import math

import pytest
import torch

from models.samplers import beta_sigmas, schedule, sigma_range, sigma_table
from models.sigma_schedules import kl_optimal, linear_quadratic
from models.stable_diffusion.configs import variant_settings
from models.stable_diffusion.schedule import DiscreteSchedule


@pytest.fixture(scope="module")
def table() -> DiscreteSchedule:
    return DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])


def test_kl_optimal_is_even_in_arctan_sigma(table):
    for sigmas, (top, bottom) in ((table.schedule("kl_optimal", 9), (table.sigma_max, table.sigma_min)),
                                  (schedule("kl_optimal", 9, 3.0), sigma_range(3.0))):
        assert sigmas[-1] == 0 and len(sigmas) == 10
        angles = torch.atan(sigmas[:-1].double())
        assert angles[0].item() == pytest.approx(math.atan(top), abs=1e-6)
        assert angles[-1].item() == pytest.approx(math.atan(bottom), abs=1e-6)
        assert torch.allclose(angles[1:] - angles[:-1], (angles[1] - angles[0]).expand(8), atol=1e-6)


@pytest.mark.parametrize("steps", [2, 5, 8, 25])
def test_linear_quadratic_is_linear_then_a_smooth_quadratic(steps):
    sigma_max, threshold = 14.6, 0.025
    times = 1.0 - linear_quadratic(steps, sigma_max).double() / sigma_max  # model time 0 -> 1
    half = steps // 2
    assert times[0] == pytest.approx(0.0, abs=1e-6) and times[-1] == pytest.approx(1.0, abs=1e-6)
    linear_part = torch.arange(half + 1, dtype=torch.float64) * threshold / half
    assert torch.allclose(times[:half + 1], linear_part, atol=1e-5)
    # the quadratic part: constant second difference, and its slope at the joint equals the linear slope
    tail = times[half:]
    second = tail[2:] - 2 * tail[1:-1] + tail[:-2]
    assert len(second) == 0 or torch.allclose(second, second[:1].expand_as(second), atol=1e-5)
    if len(tail) > 2:
        slope_at_joint = (tail[1] - tail[0]) - second[0] / 2
        assert slope_at_joint.item() == pytest.approx(threshold / half, abs=1e-5)
    assert torch.equal(linear_quadratic(1, 2.0), torch.tensor([2.0, 0.0]))


def test_beta57_and_ddim_uniform(table):
    assert torch.equal(table.schedule("beta57", 8), table.beta_sigmas(8, 0.5, 0.7))
    assert torch.equal(schedule("beta57", 8, 3.0), beta_sigmas(8, 3.0, 0.5, 0.7))
    flow = schedule("ddim_uniform", 4, 3.0)
    assert torch.equal(flow[:-1], sigma_table(3.0)[[751, 501, 251, 1]]) and flow[-1] == 0
