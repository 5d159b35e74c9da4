"""LoRA cost on the tiny demo SD3: a plain run vs the same run with a LoRA, measured here.

Interleaved, min of N after a warm-up (3 steps, 64 px, CFG, euler/normal), one runner each:

- cold: fresh output cache each run (every node runs; weights stay loaded), plain vs LoRA. The
  difference is the cost of applying (binding the file's adapters, hooks during sampling and
  encoding) and removing the LoRA;
- seed-only: only the seed changes, so the loader, LoraLoader and text encodings come from the
  cache. The LoRA side must not re-run LoraLoader nor reload the file (checked, not timed).

Wall and process CPU time are both printed. Run: python bench/lora.py [--runs N]
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


def prompt(seed: int, lora: str | None) -> dict:
    from models.demo.sd3 import CHECKPOINT

    graph = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red cat", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "painting", "clip": ["1", 1]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 3, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }
    if lora:
        graph["8"] = {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora,
                                                             "strength_model": 0.8, "strength_clip": 0.8}}
        graph["2"]["inputs"]["clip"] = graph["3"]["inputs"]["clip"] = ["8", 1]
        graph["5"]["inputs"]["model"] = ["8", 0]
    return graph


class Side:
    def __init__(self, base: Path, models_dir: Path, cache_mode: str):
        from execution.cache import make_cache
        from execution.registry import NodeRegistry
        from execution.runner import PromptRunner
        from models.folders import FolderPaths
        from models.services import Services
        from nodes import register_builtin_nodes

        paths = FolderPaths.create(base, models_dir=models_dir)
        paths.ensure_dirs()
        self.services = Services(paths=paths, force_cpu=True, preview_method="none")
        self.registry = NodeRegistry()
        register_builtin_nodes(self.registry)
        self.cache_mode = cache_mode
        self.runner = PromptRunner(self.registry, make_cache(cache_mode), self.services)
        self.count = 0

    def run(self, graph: dict) -> tuple[float, float, list]:
        from execution.validate import validate_prompt

        validation = validate_prompt(graph, self.registry, self.services)
        assert validation.ok, validation.response()
        events: list = []
        self.count += 1
        wall, cpu = time.perf_counter(), time.process_time()
        result = self.runner.run(f"b{self.count}", validation.prompt, validation.outputs, events.append)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert result.status == "success", result.error
        return wall, cpu, events


def executed_nodes(events: list) -> set[str]:
    return {getattr(e, "node", None) for e in events if type(e).__name__ == "Executing"} - {None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    import torch

    from execution.cache import make_cache
    from models.demo.command import write_demo_models
    from models.demo.lora import PEFT_LORA

    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="plexus-bench-lora-"))
    models_dir = work / "models"
    write_demo_models(models_dir)
    cold = Side(work / "cold", models_dir, "graph")
    for side_lora in (None, PEFT_LORA):  # warm-up: load weights, import everything
        cold.run(prompt(0, side_lora))
    timings: dict[str, list[tuple[float, float]]] = {"plain": [], "lora": []}
    for run in range(args.runs):
        for label, lora in (("plain", None), ("lora", PEFT_LORA)):
            cold.runner.cache = make_cache("graph")
            wall, cpu, _ = cold.run(prompt(run, lora))
            timings[label].append((wall, cpu))
    seed_only: dict[str, list[tuple[float, float]]] = {"plain": [], "lora": []}
    reran_lora = False
    for label, lora in (("plain", None), ("lora", PEFT_LORA)):
        side = Side(work / f"seed-{label}", models_dir, "graph")
        side.run(prompt(0, lora))
        for run in range(1, args.runs + 1):
            wall, cpu, events = side.run(prompt(run, lora))
            seed_only[label].append((wall, cpu))
            reran_lora |= "8" in executed_nodes(events)
    print(f"LoRA bench: tiny SD3, 3 steps, 64 px, min of {args.runs} (wall s / CPU s)")
    for title, table in (("cold (fresh output cache)", timings), ("seed-only re-run", seed_only)):
        plain_wall, plain_cpu = min(w for w, _ in table["plain"]), min(c for _, c in table["plain"])
        lora_wall, lora_cpu = min(w for w, _ in table["lora"]), min(c for _, c in table["lora"])
        print(f"  {title:28s} plain {plain_wall:.4f} / {plain_cpu:.4f}   LoRA {lora_wall:.4f} / {lora_cpu:.4f}   "
              f"ratio wall {lora_wall / plain_wall:.3f}, CPU {lora_cpu / plain_cpu:.3f}")
    print(f"  seed-only re-run re-executed LoraLoader: {reran_lora}")


if __name__ == "__main__":
    main()
