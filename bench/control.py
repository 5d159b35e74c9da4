"""ControlNet and IP-Adapter speed: the node graph (run through the real validator and runner, with
no output cache, so every node runs each time) against diffusers' own pipelines on the same tiny
weights, prompt, hint, image prompt, seed, steps and cfg:

- ControlNet: ``StableDiffusion3ControlNetPipeline`` vs LoadImage -> ControlNetApplyAdvanced -> KSampler;
- IP-Adapter: ``StableDiffusion3Pipeline`` + ``load_ip_adapter`` vs CLIPVisionEncode -> SD3IPAdapterApply -> KSampler.

Each ratio is graph / diffusers, min of N interleaved runs after a warm-up (target <= 1.05 in wall
time; the CPU-time ratio is printed beside it). Also printed for the record: the seed-only re-run of
the graph with the default output cache (text, hint and image encodings come from the cache).

    python bench/control.py [--size 64] [--steps 4] [--repeats 9] [--threads 1]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.timing import best, timed, wall_cpu_ms  # noqa: E402

TEXT, CFG = "a small red house under a yellow sun", 4.0
SD3, CONTROLNET, VISION, ADAPTER = "sd3-tiny", "cn.safetensors", "siglip-tiny", "ip-adapter.safetensors"
HINT, STYLE = "hint.png", "style.png"


def write_models(base: Path, size: int) -> None:
    import numpy as np
    from PIL import Image
    from safetensors.torch import save_file

    from models.demo.control import build_controlnet, build_ip_adapter_state, build_siglip, save_controlnet_file
    from models.demo.sd3 import build_tiny_sd3, write_diffusers_folder

    models = base / "models"
    for kind in ("checkpoints", "controlnet", "clip_vision", "ipadapter"):
        (models / kind).mkdir(parents=True, exist_ok=True)
    write_diffusers_folder(build_tiny_sd3(), models / "checkpoints" / SD3)
    save_controlnet_file(build_controlnet(), models / "controlnet" / CONTROLNET)
    vision, processor = build_siglip()
    vision.save_pretrained(models / "clip_vision" / VISION)
    processor.save_pretrained(models / "clip_vision" / VISION)
    save_file(build_ip_adapter_state(), str(models / "ipadapter" / ADAPTER))
    (base / "input").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(base / "input" / HINT)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(base / "input" / STYLE)


def graph_prompt(kind: str, seed: int, steps: int, size: int) -> dict:
    prompt: dict = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SD3}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": TEXT, "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {"class_type": "EmptySD3LatentImage", "inputs": {"width": size, "height": size, "batch_size": 1}},
    }
    model, positive, negative = ["ckpt", 0], ["pos", 0], ["neg", 0]
    if kind == "controlnet":
        prompt["cn"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": CONTROLNET}}
        prompt["hint"] = {"class_type": "LoadImage", "inputs": {"image": HINT}}
        prompt["apply"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": positive, "negative": negative, "control_net": ["cn", 0], "image": ["hint", 0],
            "strength": 0.8, "start_percent": 0.0, "end_percent": 1.0, "vae": ["ckpt", 2]}}
        positive, negative = ["apply", 0], ["apply", 1]
    else:
        prompt["vision"] = {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": VISION}}
        prompt["style"] = {"class_type": "LoadImage", "inputs": {"image": STYLE}}
        prompt["encode"] = {"class_type": "CLIPVisionEncode", "inputs": {
            "clip_vision": ["vision", 0], "image": ["style", 0], "crop": "center"}}
        prompt["adapter"] = {"class_type": "SD3IPAdapterLoader", "inputs": {"ipadapter_file": ADAPTER}}
        prompt["apply"] = {"class_type": "SD3IPAdapterApply", "inputs": {
            "model": model, "ipadapter": ["adapter", 0], "weight": 0.6, "start_percent": 0.0, "end_percent": 1.0,
            "clip_vision_output": ["encode", 0]}}
        model = ["apply", 0]
    prompt["sample"] = {"class_type": "KSampler", "inputs": {
        "model": model, "seed": seed, "steps": steps, "cfg": CFG, "sampler_name": "euler", "scheduler": "normal",
        "positive": positive, "negative": negative, "latent_image": ["latent", 0], "denoise": 1.0}}
    prompt["decode"] = {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}}
    prompt["sink"] = {"class_type": "BenchSink", "inputs": {"images": ["decode", 0]}}
    return prompt


class GraphRunner:
    def __init__(self, base: Path, cache_mode: str):
        from execution.cache import make_cache
        from execution.declare import In, node, schemas_in
        from execution.registry import NodeRegistry
        from execution.runner import PromptRunner
        from models.folders import FolderPaths
        from models.services import Services
        from nodes import register_builtin_nodes

        self.services = Services(FolderPaths.create(base), preview_method="none")
        self.services.paths.ensure_dirs()
        self.registry = NodeRegistry()
        register_builtin_nodes(self.registry)
        self.last = None

        @node("BenchSink", category="bench", output_node=True, inputs=[In("images", "IMAGE")], outputs=[])
        def sink(images):
            self.last = images
            return {"ui": {}}

        module = types.ModuleType("bench_control_nodes")
        module.sink = sink
        self.registry.add_all(schemas_in(module))
        self.runner = PromptRunner(self.registry, make_cache(cache_mode), self.services)

    def __call__(self, prompt: dict):
        from execution.validate import validate_prompt

        validation = validate_prompt(prompt, self.registry, self.services)
        if not validation.ok:
            raise RuntimeError(validation.response())
        result = self.runner.run("bench", validation.prompt, validation.outputs, lambda event: None, {})
        if result.status != "success":
            raise RuntimeError(result.error)
        return self.last


def diffusers_runners(base: Path, steps: int, size: int) -> dict:
    from unittest import mock

    import torch
    from diffusers import SD3ControlNetModel, StableDiffusion3ControlNetPipeline, StableDiffusion3Pipeline
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution
    from PIL import Image
    from transformers import SiglipImageProcessor, SiglipVisionModel

    from models.control.controlnet_sd3 import load_sd3_controlnet

    models = base / "models"
    components = StableDiffusion3Pipeline.from_pretrained(str(models / "checkpoints" / SD3)).components
    net = load_sd3_controlnet(models / "controlnet" / CONTROLNET).module
    assert isinstance(net, SD3ControlNetModel)
    control = StableDiffusion3ControlNetPipeline(**components, controlnet=net)
    control.set_progress_bar_config(disable=True)
    hint = Image.open(base / "input" / HINT).convert("RGB")
    ip = StableDiffusion3Pipeline.from_pretrained(
        str(models / "checkpoints" / SD3), image_encoder=SiglipVisionModel.from_pretrained(str(models / "clip_vision" / VISION)),
        feature_extractor=SiglipImageProcessor.from_pretrained(str(models / "clip_vision" / VISION)))
    ip.set_progress_bar_config(disable=True)
    ip.load_ip_adapter(str(models / "ipadapter"), weight_name=ADAPTER, image_encoder_folder=None)
    ip.set_ip_adapter_scale(0.6)
    style = Image.open(base / "input" / STYLE).convert("RGB")
    common = dict(negative_prompt="", num_inference_steps=steps, guidance_scale=CFG, height=size, width=size,
                  output_type="np")

    def run_control(seed: int):
        # diffusers draws the hint's VAE posterior sample with the unseeded global RNG; the graph
        # uses the posterior mean. Same cost, and with the mean the outputs are comparable.
        with mock.patch.object(DiagonalGaussianDistribution, "sample", lambda self, generator=None: self.mode()):
            return control(TEXT, control_image=hint, controlnet_conditioning_scale=0.8,
                           generator=torch.Generator("cpu").manual_seed(seed), **common).images

    def run_ip(seed: int):
        return ip(TEXT, ip_adapter_image=style, generator=torch.Generator("cpu").manual_seed(seed), **common).images

    return {"controlnet": run_control, "ip_adapter": run_ip}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=9, help="interleaved timed runs (>= 7)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's default). One by default: on a busy 2-core machine, "
                             "OpenMP scheduling noise otherwise dominates runs of a few hundred ms")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    base = Path(tempfile.mkdtemp(prefix="plexus-bench-control-"))
    write_models(base, args.size)
    cold = GraphRunner(base, "none")  # every node runs every time; loaded models stay in the manager
    warm = GraphRunner(base, "graph")
    reference = diffusers_runners(base, args.steps, args.size)
    print(f"tiny SD3, {args.size}x{args.size}, {args.steps} euler steps, cfg {CFG}, torch threads "
          f"{torch.get_num_threads()}, min of {args.repeats} interleaved runs after a warm-up")
    ratios = {}
    for kind in ("controlnet", "ip_adapter"):
        seed = 0
        for _ in range(2):  # warm-up: loads, first-call allocations
            cold(graph_prompt(kind, seed, args.steps, args.size))
            warm(graph_prompt(kind, seed, args.steps, args.size))
            reference[kind](seed)
        graph_times, diffusers_times, rerun_times = [], [], []
        for repeat in range(args.repeats):
            seed = 1000 + repeat
            graph_times.append(timed(cold, graph_prompt(kind, seed, args.steps, args.size))[0])
            diffusers_times.append(timed(reference[kind], seed)[0])
            rerun_times.append(timed(warm, graph_prompt(kind, seed, args.steps, args.size))[0])
        graph_image = cold(graph_prompt(kind, 5, args.steps, args.size))
        reference_image = torch.from_numpy(reference[kind](5))
        difference = float((graph_image - reference_image).abs().max())
        graph_best, diffusers_best, rerun_best = best(graph_times), best(diffusers_times), best(rerun_times)
        ratio = graph_best[0] / diffusers_best[0]
        ratios[kind] = ratio
        print(f"{kind:11s} graph {wall_cpu_ms(graph_best)} | diffusers {wall_cpu_ms(diffusers_best)} | max abs diff "
              f"{difference:.2e}")
        print(f"{'':11s} ratio graph / diffusers: wall {ratio:.3f}, CPU {graph_best[1] / diffusers_best[1]:.3f} | "
              f"seed-only re-run {wall_cpu_ms(rerun_best)} ({rerun_best[0] / diffusers_best[0]:.3f}x wall)")
    verdict = all(r <= 1.05 for r in ratios.values())
    print("target <= 1.05 each:", "met" if verdict else "NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
