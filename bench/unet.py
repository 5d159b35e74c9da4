"""SD 1.5 / SDXL graph vs diffusers' StableDiffusionPipeline / StableDiffusionXLPipeline on the same tiny
random weights (the demo checkpoints and the modules they were written from).

Measures, interleaved, min of N runs after a warm-up (4 steps, 64 px, CFG 7, euler/normal; the
pipeline gets the graph's sigmas through EulerDiscreteScheduler):

- cold graph run: a fresh output cache (every node runs; the weights stay loaded, as the
  pipeline's do) vs ``pipeline(...)``;
- seed-only change: the same runner, only the seed differs, so the loader and the text encoding
  come from the cache.

Also checks that both give the same pixels. Wall and CPU (process) time are both reported.
Run: python bench/unet.py [--variant sd15|sdxl_base] [--runs N] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.flux import interleaved, report  # noqa: E402 - after the path set-up
from bench.sd3 import GraphSide  # noqa: E402

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
STEPS, CFG, SIZE = 4, 7.0, 64


def graph_prompt(ckpt: str, seed: int) -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": STEPS, "cfg": CFG, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "BenchToPIL", "inputs": {"images": ["6", 0]}},
    }


def make_pipeline(variant: str):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from models.demo.stable_diffusion import build_tiny_unet_pipeline

    components = build_tiny_unet_pipeline(variant)
    if variant == "sd15":
        pipeline = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                           requires_safety_checker=False)
    else:
        pipeline = StableDiffusionXLPipeline(**components)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run_pipeline(pipeline, sigmas: list[float], seed: int, output_type: str = "pil"):
    import torch

    started, cpu_started = time.perf_counter(), time.process_time()
    result = pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE, sigmas=sigmas,
                      generator=torch.Generator("cpu").manual_seed(seed), output_type=output_type)
    return (time.perf_counter() - started, time.process_time() - cpu_started), result.images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("sd15", "sdxl_base"), default="sd15")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    import numpy as np
    import torch

    from models.demo.stable_diffusion import CHECKPOINTS, write_demo_unet
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    if args.threads:
        torch.set_num_threads(args.threads)
    models_dir = Path(tempfile.mkdtemp(prefix="plexus-bench-models-")) / "models"
    write_demo_unet(models_dir)
    schedule = DiscreteSchedule.from_settings(variant_settings(args.variant)["schedule"])
    sigmas = schedule.schedule("normal", STEPS).tolist()
    pipeline = make_pipeline(args.variant)
    graph = GraphSide(models_dir, preview=False)
    ckpt = CHECKPOINTS[args.variant]
    cold_prompt = graph_prompt(ckpt, 42)
    for _ in range(2):  # warm-up: imports, first-call kernels, model loading
        run_pipeline(pipeline, sigmas, 42)
        graph.run(cold_prompt, fresh_cache=True)
    _, expected = run_pipeline(pipeline, sigmas, 42, output_type="np")
    graph.run(cold_prompt, fresh_cache=True)
    max_diff = float(np.abs(graph.last_tensor.numpy() - expected).max())
    times = interleaved(lambda: run_pipeline(pipeline, sigmas, 42)[0], graph, cold_prompt,
                        lambda seed: graph_prompt(ckpt, 1000 + seed), args.runs)
    print(f"{args.variant} tiny, {STEPS} steps, {SIZE}px, CFG {CFG}, euler/normal, torch threads "
          f"{torch.get_num_threads()}, min of {args.runs} interleaved runs")
    print(f"  max |graph - diffusers| pixel difference: {max_diff:.2e}")
    report(times)
    return 0


if __name__ == "__main__":
    sys.exit(main())
