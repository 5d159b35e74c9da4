"""DifferentialDiffusion on a discrete-schedule model (SD 1.x / SDXL): the threshold is linear in
the model's timestep (its sigma-table index), not in sigma."""
from __future__ import annotations

import types

import torch


def test_threshold_follows_the_timestep_of_a_discrete_schedule():
    from models.differential_diffusion import DifferentialDiffusion
    from models.stable_diffusion.schedule import DiscreteSchedule, sigma_table

    schedule = DiscreteSchedule(sigma_table(0.00085, 0.012))
    model = types.SimpleNamespace(sampling=schedule, patches=())
    top, floor = schedule.sigma_max, schedule.sigma_min
    middle = float(schedule.t_to_sigma(torch.tensor(499.5)))  # halfway in timesteps, far from halfway in sigma
    sigmas = torch.tensor([top, middle, 0.0])
    mask = torch.tensor([0.2, 0.45, 0.55, 0.9])
    patch = DifferentialDiffusion()
    assert patch.denoise_mask(model, top, mask, sigmas).tolist() == [0, 0, 0, 0]
    assert patch.denoise_mask(model, middle, mask, sigmas).tolist() == [0, 0, 1, 1]
    assert patch.denoise_mask(model, floor, mask, sigmas).tolist() == [1, 1, 1, 1]
    assert middle < (top + floor) / 4  # so a sigma-linear threshold would give other masks
