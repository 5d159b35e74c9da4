"""What each sampler rule costs beyond the model, measured here against Euler in the same process.

The model is a stand-in of negligible cost (x0 = 0.5 * tanh(x)), so the figures are the sampler's own
per-step work: its arithmetic, history, coefficient solves and noise (the Brownian tree of the SDE
samplers, drawn with torchsde on the CPU). A real model step on SDXL or SD3 at 1024 px costs seconds
on a CPU, so these add that much less in relative terms. Latents: SD 1.x/SDXL at 1024 px
(1x4x128x128, eps space) and SD3/FLUX at 1024 px (1x16x128x128, flow space); 20 karras/simple steps;
min of N interleaved runs, wall and process CPU time per step.

Run: python bench/samplers.py [--runs N] [--threads T]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

NAMES = ("euler", "dpmpp_2m", "uni_pc", "uni_pc_bh2", "res_multistep", "deis", "ipndm", "dpm_2_ancestral",
         "dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_2m_sde", "dpmpp_3m_sde", "er_sde", "gradient_estimation")
STEPS = 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    from models.sampling import FlowSampling
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    torch.set_num_threads(args.threads)
    families = {
        "eps 1x4x128x128": (DiscreteSchedule.from_settings(variant_settings("sd15")["schedule"]), (1, 4, 128, 128),
                            "karras"),
        "flow 1x16x128x128": (FlowSampling(3.0), (1, 16, 128, 128), "simple"),
    }
    print(f"sampler overhead per step (stand-in model), {STEPS} steps, min of {args.runs}, {args.threads} thread(s)")
    for label, (rules, shape, scheduler) in families.items():
        sigmas = rules.schedule(scheduler, STEPS)
        noise = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        start = rules.noise(sigmas[0], noise, torch.zeros_like(noise))

        def model(x, sigma):
            return (x - 0.5 * torch.tanh(x)) / float(sigma)

        best = {name: (float("inf"), float("inf")) for name in NAMES}
        with torch.inference_mode():
            for _ in range(args.runs):
                for name in NAMES:
                    wall, cpu = time.perf_counter(), time.process_time()
                    rules.sample(model, start, sigmas, name, seed=1)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
        base_wall, base_cpu = best["euler"]
        print(f"\n{label}: {'sampler':<22}{'wall ms/step':>14}{'CPU ms/step':>13}{'wall vs euler':>15}")
        for name, (wall, cpu) in best.items():
            print(f"{'':{len(label) + 2}}{name:<22}{1000 * wall / STEPS:>14.2f}{1000 * cpu / STEPS:>13.2f}"
                  f"{wall / base_wall:>14.2f}x")


if __name__ == "__main__":
    main()
