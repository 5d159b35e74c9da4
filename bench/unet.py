"""SD 1.5 / SDXL graph vs diffusers' StableDiffusionPipeline / StableDiffusionXLPipeline on the same tiny
random weights (the demo checkpoints and the modules they were written from).

Measures, interleaved, min of N runs after a warm-up (4 steps, 64 px, CFG 7, euler/normal; the
pipeline gets the graph's sigmas through EulerDiscreteScheduler):

- cold graph run: a fresh output cache (every node runs; the weights stay loaded, as the
  pipeline's do) vs ``pipeline(...)``;
- seed-only change: the same runner, only the seed differs, so the loader and the text encoding
  come from the cache.

Also checks that both give the same pixels. Wall and CPU (process) time are both reported. Targets, as
for SD3: cold ratio <= 1.05; seed-only ratio < 1.

Then a breakdown (``--breakdown``, on by default): the CPU time of the fastest seed-only run and the
fastest pipeline run split into U-Net, VAE decode, text encoders and the rest (forward calls timed).
A seed-only re-run may skip only the text encoding, so ``(U-Net + VAE) / pipeline`` is the floor
of its ratio; on these tiny models the U-Net is most of both.

``--layers``: only the per-change figures of ``models/stable_diffusion/fast_layers.py``: the CPU time of
one U-Net call (the CFG batch of the run above) and one VAE decode, with the plain diffusers modules
and with the changes added one by one (copies of the same weights, interleaved, min of N).
Run: python bench/unet.py [--variant sd15|sdxl_base] [--runs N] [--threads N] [--no-breakdown] [--layers]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.flux import interleaved  # noqa: E402 - after the path set-up
from bench.sd3 import GraphSide  # noqa: E402
from bench.timing import Stopwatch, report_against_pipeline  # noqa: E402

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

    with Stopwatch() as watch:
        result = pipeline(PROMPT, negative_prompt=NEGATIVE, guidance_scale=CFG, height=SIZE, width=SIZE,
                          sigmas=sigmas, generator=torch.Generator("cpu").manual_seed(seed), output_type=output_type)
    return watch.seconds, result.images


PARTS = (("unet", "diffusers:UNet2DConditionModel"), ("vae", "diffusers:AutoencoderKL.decode"),
         ("text", "transformers:CLIPTextModel"), ("text", "transformers:CLIPTextModelWithProjection"))


@contextlib.contextmanager
def timed_parts(totals: dict[str, float]):
    """Adds the process time of every U-Net forward, VAE decode and text-encoder forward to ``totals``."""
    import importlib

    patched = []
    for part, target in PARTS:
        module_name, _, attribute = target.partition(":")
        class_name, _, method = attribute.partition(".")
        cls = getattr(importlib.import_module(module_name), class_name)
        method = method or "forward"
        original = getattr(cls, method)

        def timed(self, *args, _original=original, _part=part, **kwargs):
            started = time.process_time()
            try:
                return _original(self, *args, **kwargs)
            finally:
                totals[_part] = totals.get(_part, 0.0) + time.process_time() - started

        setattr(cls, method, timed)
        patched.append((cls, method, original))
    try:
        yield totals
    finally:
        for cls, method, original in patched:
            setattr(cls, method, original)


def breakdown(pipeline_run, graph_run, runs: int) -> None:
    """The fastest of ``runs`` of each side, split into parts (CPU ms)."""
    best: dict[str, tuple[float, dict]] = {}
    for index in range(runs):
        for side, run in (("diffusers", pipeline_run), ("graph_seed_only", lambda: graph_run(index))):
            totals: dict[str, float] = {}
            with timed_parts(totals):
                started = time.process_time()
                run()
                total = time.process_time() - started
            if side not in best or total < best[side][0]:
                best[side] = (total, totals)
    print("  breakdown, CPU ms of the fastest run:")
    for side, (total, parts) in best.items():
        named = "  ".join(f"{k} {parts.get(k, 0.0) * 1000:6.2f}" for k in ("unet", "vae", "text"))
        print(f"    {side:16s} total {total * 1000:6.2f}  {named}  rest {(total - sum(parts.values())) * 1000:6.2f}")
    pipeline_total, _ = best["diffusers"]
    graph_parts = best["graph_seed_only"][1]
    floor = (graph_parts.get("unet", 0.0) + graph_parts.get("vae", 0.0)) / pipeline_total
    print(f"    floor of the seed-only ratio (graph U-Net + VAE) / diffusers = {floor:.3f}")


def layer_changes(variant: str, runs: int) -> None:
    """U-Net call and VAE decode CPU time (ms), plain and with each fast-layer change added in turn."""
    import copy

    import torch

    from models.demo.stable_diffusion import build_tiny_unet_pipeline
    from models.stable_diffusion import fast_layers

    components = build_tiny_unet_pipeline(variant)
    steps = {"plain": lambda m: m,
             "+ channels_last": lambda m: m.to(memory_format=torch.channels_last),
             "+ small convs on thnn": fast_layers.route_small_convolutions,
             "+ direct attention calls": fast_layers.direct_attention_calls}
    unets, vaes, unet, vae = {}, {}, components["unet"], components["vae"]
    for name, change in steps.items():
        unet, vae = change(copy.deepcopy(unet)), change(copy.deepcopy(vae))
        unets[name], vaes[name] = unet, vae
    config = unet.config
    latent, context = torch.randn(2, 4, SIZE // 8, SIZE // 8), torch.randn(2, 77, config.cross_attention_dim)
    added = None
    if config.addition_embed_type == "text_time":
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
        added = {"text_embeds": torch.randn(2, pooled), "time_ids": torch.tensor([[SIZE, SIZE, 0, 0, SIZE, SIZE]] * 2)}
    timestep = torch.tensor([500.0, 500.0])

    def unet_call(module):
        return module(latent, timestep, encoder_hidden_states=context, added_cond_kwargs=added, return_dict=False)[0]

    def vae_call(module):
        return module.decode(latent[:1], return_dict=False)[0]

    best: dict[tuple[str, str], float] = {}
    with torch.inference_mode():
        reference = unet_call(unets["plain"]), vae_call(vaes["plain"])
        for name in steps:
            got = unet_call(unets[name]), vae_call(vaes[name])
            difference = max(float((a - b).abs().max()) for a, b in zip(got, reference))
            assert difference < 1e-4, f"{name}: differs from the plain modules by {difference}"
        for _ in range(runs):
            for name in steps:
                for part, call, module in (("unet", unet_call, unets[name]), ("vae", vae_call, vaes[name])):
                    started = time.process_time()
                    call(module)
                    elapsed = time.process_time() - started
                    best[part, name] = min(best.get((part, name), elapsed), elapsed)
    print(f"{variant} tiny fast layers, CPU ms, min of {runs} interleaved runs, torch threads {torch.get_num_threads()}")
    for name in steps:
        unet_ms, vae_ms = best["unet", name] * 1000, best["vae", name] * 1000
        print(f"  {name:26s} U-Net call {unet_ms:6.2f} ({unet_ms / (best['unet', 'plain'] * 1000):.2f})"
              f"   VAE decode {vae_ms:6.2f} ({vae_ms / (best['vae', 'plain'] * 1000):.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=("sd15", "sdxl_base"), default="sd15")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                        help="skip the U-Net / VAE / text / rest split")
    parser.add_argument("--layers", action="store_true",
                        help="only the per-change figures of the fast layers (U-Net call, VAE decode)")
    args = parser.parse_args()
    import numpy as np
    import torch

    from models.demo.stable_diffusion import CHECKPOINTS, write_demo_unet
    from models.stable_diffusion.configs import variant_settings
    from models.stable_diffusion.schedule import DiscreteSchedule

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.layers:
        layer_changes(args.variant, args.runs * 4)
        return 0
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
    report_against_pipeline(times, cold_target=1.05, seed_only_target=1.0)
    if args.breakdown:
        breakdown(lambda: run_pipeline(pipeline, sigmas, 42), lambda i: graph.run(graph_prompt(ckpt, 5000 + i), False),
                  args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
