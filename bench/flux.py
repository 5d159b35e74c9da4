"""FLUX graph vs diffusers' FluxPipeline on the same tiny random weights (FLUX.1 [dev] config).

Measures, interleaved, min of N runs after a warm-up (4 steps, 64 px, guidance 3.5, CFG 1,
euler/simple with ModelSamplingFlux = the pipeline's dynamic shift):

- cold graph run: a fresh output cache (every node runs; the weights stay loaded, as the
  pipeline's do) vs ``pipeline(...)``;
- seed-only change: the same runner, only the seed differs, so the loader and the text encoding
  come from the cache.

Also checks that both give the same pixels. Wall and CPU (process) time are both reported: on a
shared, loaded machine the CPU-time ratio is the steadier one. Targets: cold <= 1.02, seed-only < 0.7.
Run: python bench/flux.py [--runs N] [--preview] [--threads N]   (on a GPU also: --flux-shaped)
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

from bench.sd3 import GraphSide  # noqa: E402 - after the path set-up
from bench.timing import Stopwatch, report_against_pipeline  # noqa: E402

PROMPT = "a photo of a red cat in the forest"
STEPS, GUIDANCE, SIZE = 4, 3.5, 64


def graph_prompt(ckpt: str, seed: int, size: int = SIZE, steps: int = STEPS, loader: str | None = None) -> dict:
    first = {"class_type": loader, "inputs": {}} if loader else \
        {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}
    return {
        "1": first,
        "2": {"class_type": "CLIPTextEncodeFlux", "inputs": {"clip": ["1", 1], "clip_l": PROMPT, "t5xxl": PROMPT,
                                                             "guidance": GUIDANCE}},
        "3": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "ModelSamplingFlux", "inputs": {"model": ["1", 0], "max_shift": 1.15, "base_shift": 0.5,
                                                            "width": size, "height": size}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["5", 0], "seed": seed, "steps": steps, "cfg": 1.0, "sampler_name": "euler",
            "scheduler": "simple", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "BenchToPIL", "inputs": {"images": ["7", 0]}},
    }


def run_pipeline(pipeline, seed: int, output_type: str = "pil", size: int = SIZE, steps: int = STEPS,
                 max_sequence_length: int = 256):
    import torch

    with Stopwatch() as watch:
        result = pipeline(PROMPT, num_inference_steps=steps, guidance_scale=GUIDANCE, height=size, width=size,
                          max_sequence_length=max_sequence_length, generator=torch.Generator("cpu").manual_seed(seed),
                          output_type=output_type)
    return watch.seconds, result.images


def prepare_models() -> Path:
    from models.demo.flux import write_demo_flux

    models_dir = Path(tempfile.mkdtemp(prefix="plexus-bench-models-")) / "models"
    write_demo_flux(models_dir)
    return models_dir


def interleaved(pipeline_run, graph, cold_prompt, seed_prompt, runs: int) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) per run for the pipeline, a cold graph run and a seed-only graph re-run."""
    times: dict[str, list[tuple[float, float]]] = {"diffusers": [], "graph_cold": [], "graph_seed_only": []}
    for index in range(runs):
        times["diffusers"].append(pipeline_run())
        times["graph_cold"].append(graph.run(cold_prompt, fresh_cache=True))
        graph.run(seed_prompt(2 * index), fresh_cache=False)  # re-prime the cache the cold run replaced
        times["graph_seed_only"].append(graph.run(seed_prompt(2 * index + 1), fresh_cache=False))
    return times


def flux_shaped_run(runs: int, steps: int, size: int = 1024, family: dict | None = None,
                    allow_cpu: bool = False) -> None:
    """On an accelerator: random weights in FLUX.1 [dev]'s shapes (full transformer, CLIP-L and T5-XXL,
    tiny tokenizers), shared by the pipeline and the graph through a bench-only loader node."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModel, T5Config, T5EncoderModel

    from execution.declare import Out, node
    from models.demo.flux import SCHEDULERS
    from models.demo.sd3 import build_clip_tokenizer, build_t5_tokenizer
    from models.flux.configs import family_config
    from models.flux.wrappers import FluxClip, FluxModel
    from models.manager import ModelManager
    from models.sd3.wrappers import SD3Vae, TextEncoder

    manager = ModelManager()
    if manager.device.type == "cpu" and not allow_cpu:
        raise SystemExit("--flux-shaped needs an accelerator")
    family = family or family_config("flux1_dev")
    clip_tokenizer, t5_tokenizer = build_clip_tokenizer(), build_t5_tokenizer()
    torch.manual_seed(0)
    with torch.device(manager.device):
        transformer = FluxTransformer2DModel(**family["transformer"]).to(manager.dtype).eval()
        vae = AutoencoderKL(**family["vae"]).to(manager.dtype).eval()
        clip_config = dict(family["clip_l"], vocab_size=len(clip_tokenizer))
        clip_l = CLIPTextModel(CLIPTextConfig(**clip_config)).to(manager.dtype).eval()
        t5 = T5EncoderModel(T5Config(**dict(family["t5xxl"], vocab_size=len(t5_tokenizer)))).to(manager.dtype).eval()
    pipeline = FluxPipeline(transformer=transformer, vae=vae, text_encoder=clip_l, text_encoder_2=t5,
                            tokenizer=clip_tokenizer, tokenizer_2=t5_tokenizer,
                            scheduler=FlowMatchEulerDiscreteScheduler(**SCHEDULERS["dev"]))
    pipeline.set_progress_bar_config(disable=True)
    wrappers = (FluxModel(transformer, name="flux-dev-shaped").with_mu(1.15),
                FluxClip(TextEncoder(clip_l, clip_tokenizer, "clip_l"), TextEncoder(t5, t5_tokenizer, "t5xxl")),
                SD3Vae(vae))

    @node("BenchFluxShaped", category="_bench", outputs=[Out("MODEL"), Out("CLIP"), Out("VAE")])
    def shaped_loader():
        return wrappers

    graph = GraphSide(prepare_models(), preview=False)
    graph.services.force_cpu = False
    graph.services.__dict__["models"] = manager  # the same manager (device, dtype) as the modules
    graph.registry.add(shaped_loader.__node_schema__)
    cold = graph_prompt("", 42, size, steps, "BenchFluxShaped")
    for _ in range(2):
        run_pipeline(pipeline, 42, size=size, steps=steps)
        graph.run(cold, fresh_cache=True)
    times = interleaved(lambda: run_pipeline(pipeline, 42, size=size, steps=steps)[0], graph, cold,
                        lambda seed: graph_prompt("", 100 + seed, size, steps, "BenchFluxShaped"), runs)
    memory = (f"; peak accelerator memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
              if manager.device.type == "cuda" else "")
    print(f"FLUX.1-dev-shaped random weights on {manager.device} ({manager.dtype}), {size}², {steps} steps, "
          f"guidance {GUIDANCE}, CFG 1, min of {runs}{memory}")
    report_against_pipeline(times, cold_target=1.02, seed_only_target=0.7)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--preview", action="store_true", help="graph sends latent previews every step")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--flux-shaped", action="store_true",
                        help="on a GPU: FLUX.1-dev-shaped random weights at 1024² instead of the tiny model")
    parser.add_argument("--steps", type=int, default=20, help="steps for --flux-shaped")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.flux_shaped:
        flux_shaped_run(args.runs, args.steps)
        return 0

    import numpy as np
    from diffusers import FluxPipeline

    from models.demo.flux import CHECKPOINT, DIFFUSERS_FOLDERS

    models_dir = prepare_models()
    pipeline = FluxPipeline.from_pretrained(str(models_dir / "checkpoints" / DIFFUSERS_FOLDERS["dev"]),
                                            torch_dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    graph = GraphSide(models_dir, preview=args.preview)
    cold_prompt = graph_prompt(CHECKPOINT, 42)
    for _ in range(2):  # warm-up: imports, first-call kernels, model loading
        run_pipeline(pipeline, 42)
        graph.run(cold_prompt, fresh_cache=True)
    _, expected = run_pipeline(pipeline, 42, output_type="np")
    graph.run(cold_prompt, fresh_cache=True)
    max_diff = float(np.abs(graph.last_tensor.numpy() - expected).max())
    times = interleaved(lambda: run_pipeline(pipeline, 42)[0], graph, cold_prompt,
                        lambda seed: graph_prompt(CHECKPOINT, 1000 + seed), args.runs)
    print(f"FLUX.1 dev tiny, {STEPS} steps, {SIZE}px, guidance {GUIDANCE}, CFG 1, euler/simple, torch threads "
          f"{torch.get_num_threads()}, preview {'on' if args.preview else 'off'}, min of {args.runs} interleaved runs")
    print(f"  max |graph - diffusers| pixel difference: {max_diff:.2e}")
    report_against_pipeline(times, cold_target=1.02, seed_only_target=0.7)
    return 0


if __name__ == "__main__":
    sys.exit(main())
