"""SDTurboScheduler: the fixed few-step sigmas of SD-Turbo / SDXL-Turbo (timesteps 999, 899, ... 99)."""
from __future__ import annotations

from execution.declare import Float, In, Int, Out, node

TURBO_TIMESTEPS = tuple(range(999, 0, -100))  # 999, 899, ..., 99: the ten steps the Turbo models were distilled on


def turbo_timesteps(steps: int, denoise: float) -> list[int]:
    """``steps`` of the ten, starting ``10 - int(10 * denoise)`` in (a lower denoise skips the noisiest)."""
    start = 10 - int(10 * denoise)
    return list(TURBO_TIMESTEPS[start:start + steps])


@node("SDTurboScheduler", category="sampling/custom_sampling/schedulers",
      inputs=[In("model", "MODEL"), Int("steps", 1, min=1, max=10),
              Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("SIGMAS")])
def sd_turbo_scheduler(model, steps: int, denoise: float):
    """The model's sigmas at timesteps 999, 899, ... (``steps`` of them), then 0."""
    import torch

    timesteps = torch.tensor(turbo_timesteps(steps, denoise), dtype=torch.float32)
    own = getattr(model, "sampling", None)  # SD 1.x / SDXL: the discrete sigma table
    if own is not None:
        sigmas = own.t_to_sigma(timesteps)
    else:  # flow models: sigma(t) = shift(t / multiplier), as ComfyUI's discrete-flow sampling
        from models.samplers import shift_sigma

        sigmas = shift_sigma(timesteps / float(model.multiplier), float(model.shift))
    return (torch.cat([sigmas.float(), sigmas.new_zeros(1)]),)
