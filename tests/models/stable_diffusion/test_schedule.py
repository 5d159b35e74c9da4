"""DiscreteSchedule's memoised sigma -> timestep lookup gives exactly the computed values, for floats and
0-d tensors, and hands out copies (a caller changing its timestep cannot change the next step's)."""
from __future__ import annotations

import torch


def test_memoised_timesteps_equal_the_computed_ones_and_are_copies():
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    schedule = DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"])
    sigmas = schedule.schedule("karras", 7)[:-1]
    computed = schedule.sigma_to_t(sigmas)  # a vector: not memoised
    for sigma, expected in zip(sigmas, computed):
        for query in (sigma, float(sigma), sigma.double()):
            first = schedule.sigma_to_t(query)
            assert first.shape == () and first.dtype == torch.float32 and torch.equal(first, expected)
            first.add_(100.0)
            assert torch.equal(schedule.sigma_to_t(query), expected), "the memo is not shared with callers"
    assert schedule.percent_of(float(sigmas[0])) == 1.0 - float(computed[0]) / 999
