"""Brownian-tree noise for the SDE samplers, as k-diffusion (and diffusers' DPMSolverSDEScheduler)
draw it: one ``torchsde.BrownianTree`` over ``[smallest nonzero sigma, largest sigma]`` seeded with
the noise seed; the noise for a step from ``sigma`` to ``sigma_next`` is the tree's increment
between them divided by ``sqrt(|sigma - sigma_next|)``.

Noise drawn this way depends on the seed and the sigma interval, not on how many steps were taken or
in which order the intervals are queried, so a seed gives the same image every time, and a finer
schedule refines the same Brownian path instead of drawing new noise. The tree lives on the CPU in
float32 on every device (ComfyUI's ``*_gpu`` samplers build it on the GPU instead, which gives other
random numbers there; Plexus's ``*_gpu`` names are aliases of the CPU ones).
"""
from __future__ import annotations

import math
import warnings

import torch


class BrownianNoise:
    def __init__(self, like: torch.Tensor, sigmas: torch.Tensor, seed: int):
        import torchsde

        positive = sigmas[sigmas > 0]
        self.low, self.high = float(positive.min()), float(sigmas.max())
        self.tree = torchsde.BrownianTree(torch.tensor(self.low), torch.zeros(like.shape, dtype=torch.float32),
                                          torch.tensor(self.high), entropy=int(seed) % (1 << 63))

    def __call__(self, like: torch.Tensor, sigma: float, sigma_next: float) -> torch.Tensor:
        a, b = float(sigma), float(sigma_next)
        low, high, sign = (a, b, 1.0) if a < b else (b, a, -1.0)
        low, high = max(low, self.low), min(high, self.high)
        if high <= low:
            return torch.zeros_like(like)
        with warnings.catch_warnings():  # torchsde warns when float32 ends round past its float64 ones
            warnings.simplefilter("ignore", UserWarning)
            increment = self.tree(torch.tensor(low), torch.tensor(high))
        return (sign * increment / math.sqrt(high - low)).to(like.device, like.dtype)
