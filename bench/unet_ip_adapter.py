"""SD 1.5 / SDXL with an IP-Adapter: the graph (UNetIPAdapterLoader + CLIPVisionLoader + UNetIPAdapterApply)
vs diffusers' pipeline with ``load_ip_adapter`` + ``ip_adapter_image=``, on the same tiny random weights
(the demo checkpoint, encoder and original-format adapter, and the modules they were written from).

Measured as ``bench/unet.py`` does (interleaved, min of N after a warm-up; 4 steps, 64 px, CFG 7,
euler/normal with the graph's sigmas): a cold graph run (fresh output cache; weights stay loaded, as the
pipeline's do) and a seed-only re-run (the image encoding and the patched model come from the cache,
where the pipeline encodes the image prompt on every call). Also checks that both give the same pixels.
Wall and CPU (process) time are both reported; targets as for SD3: cold <= 1.05, seed-only < 1.
Run: python bench/unet_ip_adapter.py [--variant sd15|sdxl_base] [--kind ip-adapter|plus] [--runs N] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.flux import interleaved  # noqa: E402 - after the path set-up
from bench.sd3 import GraphSide  # noqa: E402
from bench.timing import Stopwatch, report_against_pipeline  # noqa: E402
from bench.unet import CFG, NEGATIVE, PROMPT, SIZE, STEPS, graph_prompt  # noqa: E402

SCALE = 0.7
PICTURE_SIZE = 32  # the demo encoder's input size: no resampling on either side


def adapted_prompt(ckpt: str, adapter: str, seed: int) -> dict:
    from models.demo.ip_adapter_unet import CLIP_VISION_FILE

    prompt = graph_prompt(ckpt, seed)
    prompt["8"] = {"class_type": "UNetIPAdapterLoader", "inputs": {"ipadapter_file": adapter}}
    prompt["9"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": CLIP_VISION_FILE}}
    prompt["10"] = {"class_type": "BenchPicture", "inputs": {}}
    prompt["11"] = {"class_type": "UNetIPAdapterApply", "inputs": {
        "model": ["1", 0], "ipadapter": ["8", 0], "clip_vision": ["9", 0], "image": ["10", 0], "weight": SCALE,
        "start_percent": 0.0, "end_percent": 1.0, "crop": "center"}}
    prompt["5"]["inputs"]["model"] = ["11", 0]
    return prompt


def make_pipeline(variant: str, adapters_dir: Path, adapter: str):
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    from models.demo.ip_adapter_unet import build_clip_vision
    from models.demo.stable_diffusion import build_tiny_unet_pipeline

    encoder, processor = build_clip_vision()
    components = dict(build_tiny_unet_pipeline(variant), image_encoder=encoder, feature_extractor=processor)
    if variant == "sd15":
        pipeline = StableDiffusionPipeline(**components, safety_checker=None, requires_safety_checker=False)
    else:
        pipeline = StableDiffusionXLPipeline(**components)
    pipeline.load_ip_adapter(str(adapters_dir), subfolder="", weight_name=adapter, image_encoder_folder=None)
    pipeline.set_ip_adapter_scale(SCALE)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("sd15", "sdxl_base"), default="sd15")
    parser.add_argument("--kind", choices=("ip-adapter", "plus"), default="ip-adapter")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    args = parser.parse_args()
    import numpy as np
    import torch
    from diffusers import EulerDiscreteScheduler
    from PIL import Image

    from execution.declare import Out, node
    from models.demo.ip_adapter_unet import ADAPTERS, write_demo_unet_ip_adapter
    from models.demo.stable_diffusion import CHECKPOINTS, write_demo_unet
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    adapter = next((name for name, spec in ADAPTERS.items() if spec == (args.variant, args.kind)), None)
    if adapter is None:
        parser.error(f"the demo has no {args.kind} adapter for {args.variant}")
    if args.threads:
        torch.set_num_threads(args.threads)
    models_dir = Path(tempfile.mkdtemp(prefix="plexus-bench-models-")) / "models"
    write_demo_unet(models_dir)
    write_demo_unet_ip_adapter(models_dir)
    pixels = np.random.default_rng(7).integers(0, 256, (PICTURE_SIZE, PICTURE_SIZE, 3), dtype=np.uint8)
    picture = Image.fromarray(pixels)

    @node("BenchPicture", category="_bench", outputs=[Out("IMAGE")])
    def bench_picture():
        return (torch.from_numpy(pixels[None].astype(np.float32) / 255.0),)

    sigmas = DiscreteSchedule.from_settings(variant_settings(args.variant)["schedule"]).schedule("normal", STEPS).tolist()
    pipeline = make_pipeline(args.variant, models_dir / "ipadapter", adapter)
    pipeline.scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="leading")

    def run_pipeline(output_type: str = "pil"):
        with Stopwatch() as watch:
            result = pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE,
                              sigmas=sigmas, ip_adapter_image=picture, output_type=output_type,
                              generator=torch.Generator("cpu").manual_seed(42))
        return watch.seconds, result.images

    graph = GraphSide(models_dir, preview=False)
    graph.registry.add(bench_picture.__node_schema__)
    ckpt = CHECKPOINTS[args.variant]
    cold_prompt = adapted_prompt(ckpt, adapter, 42)
    for _ in range(2):  # warm-up: imports, first-call kernels, model loading
        run_pipeline()
        graph.run(cold_prompt, fresh_cache=True)
    _, expected = run_pipeline(output_type="np")
    graph.run(cold_prompt, fresh_cache=True)
    max_diff = float(np.abs(graph.last_tensor.numpy() - expected).max())
    times = interleaved(lambda: run_pipeline()[0], graph, cold_prompt,
                        lambda seed: adapted_prompt(ckpt, adapter, 1000 + seed), args.runs)
    print(f"{args.variant} tiny + {args.kind} IP-Adapter (scale {SCALE}), {STEPS} steps, {SIZE}px, CFG {CFG}, "
          f"euler/normal, torch threads {torch.get_num_threads()}, min of {args.runs} interleaved runs")
    print(f"  max |graph - diffusers| pixel difference: {max_diff:.2e}")
    report_against_pipeline(times, cold_target=1.05, seed_only_target=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
