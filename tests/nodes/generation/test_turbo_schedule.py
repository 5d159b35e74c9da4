"""SDTurboScheduler: the model's own sigmas at timesteps 999, 899, ... then 0 (denoise skips the
noisiest), for a discrete (SDXL) sigma table and for a flow model's shift. The official
``sdxlturbo_example`` template runs end to end in ``test_unet_workflows.py``."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from models.stable_diffusion.schedule import DiscreteSchedule, sigma_table
from nodes.generation.turbo_schedule import sd_turbo_scheduler, turbo_timesteps

SDXL_TABLE = sigma_table(0.00085, 0.012)  # SDXL's scaled-linear betas, ascending: entry t is timestep t


@pytest.mark.parametrize("steps,denoise,expected", [
    (1, 1.0, [999]), (4, 1.0, [999, 899, 799, 699]), (10, 1.0, list(range(999, 0, -100))),
    (2, 0.5, [499, 399]), (10, 0.3, [299, 199, 99]), (3, 0.0, []),
])
def test_turbo_timesteps(steps, denoise, expected):
    assert turbo_timesteps(steps, denoise) == expected


def test_discrete_model_sigmas_are_its_table_entries():
    model = SimpleNamespace(sampling=DiscreteSchedule(SDXL_TABLE))
    (sigmas,) = sd_turbo_scheduler(model, 3, 1.0)
    assert torch.allclose(sigmas, torch.stack([SDXL_TABLE[999], SDXL_TABLE[899], SDXL_TABLE[799], torch.tensor(0.0)]))
    assert sd_turbo_scheduler(model, 1, 1.0)[0].tolist() == pytest.approx([float(SDXL_TABLE[999]), 0.0])


def test_flow_model_sigmas_follow_its_shift():
    model = SimpleNamespace(sampling=None, shift=3.0, multiplier=1000.0)
    (sigmas,) = sd_turbo_scheduler(model, 2, 1.0)
    expected = [3 * t / (1 + 2 * t) for t in (0.999, 0.899)] + [0.0]
    assert sigmas.tolist() == pytest.approx(expected, abs=1e-6)
