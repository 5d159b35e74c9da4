"""SD3 graph vs diffusers' StableDiffusion3Pipeline on the same tiny random weights.

Measures, interleaved, min of N runs after a warm-up (4 steps, 64 px, CFG, euler/normal):

- cold graph run: a fresh output cache (every node runs; the weights stay loaded, as the
  pipeline's do) vs ``pipeline(...)``;
- seed-only change: the same runner, only the seed differs, so the loader and both text
  encodings come from the cache.

Also checks that the two produce the same pixels, and reports each side's peak RSS, measured in
its own subprocess. Wall and CPU (process) time are both reported: on a shared, loaded machine the
CPU-time ratio is the steadier one. Targets: cold ratio <= 1.05; seed-only ratio < 1.
Run: python bench/sd3.py [--runs N] [--preview] [--threads N]   (on a GPU also: --sd3-shaped)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.timing import Stopwatch, report_against_pipeline  # noqa: E402 - after the path set-up

PROMPT, NEGATIVE = "a photo of a red cat in the forest", "painting"
STEPS, CFG, SIZE = 4, 5.0, 64


def graph_prompt(ckpt: str, seed: int, size: int = SIZE, steps: int = STEPS, loader: str | None = None) -> dict:
    first = {"class_type": loader, "inputs": {}} if loader else \
        {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}
    return {
        "1": first,
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["1", 1]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": steps, "cfg": CFG, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "BenchToPIL", "inputs": {"images": ["6", 0]}},
    }


class GraphSide:
    """Registry, services and runner for the graph; ``BenchToPIL`` converts to PIL like the pipeline."""

    def __init__(self, models_dir: Path, preview: bool):
        from execution.cache import make_cache
        from execution.declare import In, node
        from execution.registry import NodeRegistry
        from execution.runner import PromptRunner
        from models.folders import FolderPaths
        from models.services import Services
        from nodes import register_builtin_nodes

        self.last: list = []

        @node("BenchToPIL", category="_bench", output_node=True, inputs=[In("images", "IMAGE")])
        def to_pil(images):
            from PIL import Image

            arrays = (images * 255).round().clamp(0, 255).byte().numpy()
            self.last = [Image.fromarray(a) for a in arrays]
            self.last_tensor = images
            return {"ui": {}}

        base = Path(tempfile.mkdtemp(prefix="plexus-bench-"))
        paths = FolderPaths.create(base, models_dir=models_dir)
        paths.ensure_dirs()
        self.services = Services(paths=paths, force_cpu=True, preview_method="latent2rgb" if preview else "none")
        self.registry = NodeRegistry()
        register_builtin_nodes(self.registry)
        self.registry.add(to_pil.__node_schema__)
        self.make_cache = make_cache
        self.runner = PromptRunner(self.registry, make_cache("graph"), self.services)
        self.count = 0

    def run(self, prompt: dict, fresh_cache: bool) -> tuple[float, float]:
        """(wall, CPU) seconds of one validated run."""
        from execution.validate import validate_prompt

        if fresh_cache:
            self.runner.cache = self.make_cache("graph")
        with Stopwatch() as watch:
            validation = validate_prompt(prompt, self.registry, self.services)
            self.count += 1
            result = self.runner.run(f"bench-{self.count}", validation.prompt, validation.outputs, lambda event: None)
        assert result.status == "success", result.error
        return watch.seconds


def load_pipeline(folder: Path):
    import torch
    from diffusers import StableDiffusion3Pipeline

    pipeline = StableDiffusion3Pipeline.from_pretrained(str(folder), torch_dtype=torch.float32)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def run_pipeline(pipeline, seed: int, output_type: str = "pil", size: int = SIZE, steps: int = STEPS):
    import torch

    with Stopwatch() as watch:
        result = pipeline(PROMPT, negative_prompt=NEGATIVE, num_inference_steps=steps, guidance_scale=CFG,
                          height=size, width=size, generator=torch.Generator("cpu").manual_seed(seed),
                          output_type=output_type)
    return watch.seconds, result.images


def sd3_shaped_run(runs: int, steps: int, size: int = 1024, family: dict | None = None,
                   allow_cpu: bool = False) -> None:
    """On an accelerator: random weights in SD3 Medium's shapes (all three text encoders at full
    size, tiny tokenizers), shared by the pipeline and the graph; prints the same ratios at 1024².
    The graph gets the modules through a bench-only loader node (nothing written to disk)."""
    import torch
    from diffusers import (AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel,
                           StableDiffusion3Pipeline)
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from execution.declare import Out, node
    from models.demo.sd3 import build_clip_tokenizer, build_t5_tokenizer
    from models.manager import ModelManager
    from models.sd3.configs import family_config
    from models.sd3.wrappers import SD3Clip, SD3Model, SD3Vae, TextEncoder

    manager = ModelManager()
    if manager.device.type == "cpu" and not allow_cpu:
        raise SystemExit("--sd3-shaped needs an accelerator")
    family = family or family_config("sd3_medium")
    torch.manual_seed(0)
    with torch.device(manager.device):
        transformer = SD3Transformer2DModel(**family["transformer"]).to(manager.dtype).eval()
        vae = AutoencoderKL(**family["vae"]).to(manager.dtype).eval()
        clip_l = CLIPTextModelWithProjection(CLIPTextConfig(**family["clip_l"])).to(manager.dtype).eval()
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig(**family["clip_g"])).to(manager.dtype).eval()
        t5 = T5EncoderModel(T5Config(**family["t5xxl"])).to(manager.dtype).eval()
    clip_tokenizer, t5_tokenizer = build_clip_tokenizer(), build_t5_tokenizer()
    pipeline = StableDiffusion3Pipeline(transformer=transformer, vae=vae, text_encoder=clip_l, text_encoder_2=clip_g,
                                        text_encoder_3=t5, tokenizer=clip_tokenizer, tokenizer_2=clip_tokenizer,
                                        tokenizer_3=t5_tokenizer, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0))
    pipeline.set_progress_bar_config(disable=True)
    wrappers = (SD3Model(transformer, name="sd3-shaped"),
                SD3Clip(TextEncoder(clip_l, clip_tokenizer, "clip_l"), TextEncoder(clip_g, clip_tokenizer, "clip_g"),
                        TextEncoder(t5, t5_tokenizer, "t5xxl"), joint_dim=4096),
                SD3Vae(vae))

    @node("BenchSD3Shaped", category="_bench", outputs=[Out("MODEL"), Out("CLIP"), Out("VAE")])
    def shaped_loader():
        return wrappers

    graph = GraphSide(prepare_models(), preview=False)
    graph.services.force_cpu = False
    graph.services.__dict__["models"] = manager  # the same manager (device, dtype) as the modules
    graph.registry.add(shaped_loader.__node_schema__)
    prompt = graph_prompt("", 42, size=size, steps=steps, loader="BenchSD3Shaped")
    for _ in range(2):
        run_pipeline(pipeline, 42, size=size, steps=steps)
        graph.run(prompt, fresh_cache=True)
    times: dict[str, list[tuple[float, float]]] = {"diffusers": [], "graph_cold": [], "graph_seed_only": []}
    for index in range(runs):
        times["diffusers"].append(run_pipeline(pipeline, 42, size=size, steps=steps)[0])
        times["graph_cold"].append(graph.run(prompt, fresh_cache=True))
        graph.run(graph_prompt("", 100 + 2 * index, size, steps, "BenchSD3Shaped"), fresh_cache=False)
        times["graph_seed_only"].append(
            graph.run(graph_prompt("", 101 + 2 * index, size, steps, "BenchSD3Shaped"), fresh_cache=False))
    memory = (f"; peak accelerator memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"
              if manager.device.type == "cuda" else "")
    print(f"SD3-Medium-shaped random weights on {manager.device} ({manager.dtype}), {size}², {steps} steps, CFG {CFG}, "
          f"min of {runs}{memory}")
    report_against_pipeline(times, cold_target=1.05, seed_only_target=1.0)


def prepare_models() -> Path:
    from models.demo.sd3 import write_demo_sd3

    models_dir = Path(tempfile.mkdtemp(prefix="plexus-bench-models-")) / "models"
    write_demo_sd3(models_dir)
    return models_dir


def peak_rss_child(side: str, models_dir: Path, runs: int) -> None:
    """Child mode: warm up and run one side only, then print its peak RSS (MB)."""
    from models.demo.sd3 import CHECKPOINT, DIFFUSERS_FOLDER

    if side == "diffusers":
        pipeline = load_pipeline(models_dir / "checkpoints" / DIFFUSERS_FOLDER)
        for seed in range(runs):
            run_pipeline(pipeline, seed)
    else:
        graph = GraphSide(models_dir, preview=False)
        for seed in range(runs):
            graph.run(graph_prompt(CHECKPOINT, seed), fresh_cache=(side == "graph-cold"))
    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure_rss(side: str, models_dir: Path, runs: int) -> float:
    output = subprocess.run([sys.executable, __file__, "--rss-child", side, "--models-dir", str(models_dir),
                             "--runs", str(runs)], capture_output=True, text=True, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])["peak_rss_mb"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--preview", action="store_true", help="graph sends latent previews every step")
    parser.add_argument("--rss-child", choices=["diffusers", "graph-cold", "graph-seed"], help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS subprocesses")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")
    parser.add_argument("--sd3-shaped", action="store_true",
                        help="on a GPU: SD3-Medium-shaped random weights at 1024² instead of the tiny model")
    parser.add_argument("--steps", type=int, default=20, help="steps for --sd3-shaped")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.rss_child:
        peak_rss_child(args.rss_child, args.models_dir, args.runs)
        return 0
    if args.sd3_shaped:
        sd3_shaped_run(args.runs, args.steps)
        return 0

    import numpy as np
    import torch

    from models.demo.sd3 import CHECKPOINT, DIFFUSERS_FOLDER

    models_dir = prepare_models()
    pipeline = load_pipeline(models_dir / "checkpoints" / DIFFUSERS_FOLDER)
    graph = GraphSide(models_dir, preview=args.preview)
    cold_prompt = graph_prompt(CHECKPOINT, 42)

    # Warm-up (imports, first-call kernels, model loading) and a fidelity check.
    for _ in range(2):
        run_pipeline(pipeline, 42)
        graph.run(cold_prompt, fresh_cache=True)
    _, expected = run_pipeline(pipeline, 42, output_type="np")
    graph.run(cold_prompt, fresh_cache=True)
    max_diff = float(np.abs(graph.last_tensor.numpy() - expected).max())

    times: dict[str, list[tuple[float, float]]] = {"diffusers": [], "graph_cold": [], "graph_seed_only": []}
    seed_runner_seed = 1000
    graph.run(graph_prompt(CHECKPOINT, seed_runner_seed), fresh_cache=True)
    for index in range(args.runs):
        times["diffusers"].append(run_pipeline(pipeline, 42)[0])
        times["graph_cold"].append(graph.run(cold_prompt, fresh_cache=True))
        # the cold run above replaced the cache: re-prime encoders, then time a seed-only change
        graph.run(graph_prompt(CHECKPOINT, seed_runner_seed + 2 * index), fresh_cache=False)
        times["graph_seed_only"].append(graph.run(graph_prompt(CHECKPOINT, seed_runner_seed + 2 * index + 1),
                                                  fresh_cache=False))
    print(f"SD3 tiny, {STEPS} steps, {SIZE}px, CFG {CFG}, euler/normal, torch threads {torch.get_num_threads()}, "
          f"preview {'on' if args.preview else 'off'}, min of {args.runs} interleaved runs after warm-up")
    print(f"  max |graph - diffusers| pixel difference: {max_diff:.2e}")
    report_against_pipeline(times, cold_target=1.05, seed_only_target=1.0)
    if not args.no_rss:
        rss = {side: measure_rss(side, models_dir, max(3, args.runs // 2))
               for side in ("diffusers", "graph-cold", "graph-seed")}
        print("  peak RSS (own process each): " + ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
