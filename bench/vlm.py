"""Captioning speed: the VLMCaption node (streaming every token as text + progress events, with the
interrupt check) against ``processor`` + ``model.generate`` called directly, on the same tiny
weights, greedy, same image and prompt. Min of N interleaved runs after a warm-up.

    python bench/vlm.py [--model tiny-llava|tiny-llava-next] [--tokens 64] [--repeats 25] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from execution.context import InterruptFlag, NodeContext
    from models.demo.vlm import DEMO_VLM_MODELS, write_demo_vlm
    from models.folders import FolderPaths
    from models.services import Services
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="tiny-llava", choices=["tiny-llava", "tiny-llava-next"])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's default). 1 keeps a ~1 ms/token toy model measurable "
                             "on a shared 2-core machine; with 2 threads any other process skews the timings")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    base = Path(tempfile.mkdtemp(prefix="plexus-bench-vlm-"))
    write_demo_vlm(base / "models")
    paths = FolderPaths.create(base)
    paths.ensure_dirs()
    services = Services(paths=paths, force_cpu=True)
    events: list = []

    def context() -> NodeContext:
        events.clear()
        return NodeContext(node_id="1", display_node_id="1", class_type="VLMCaption", prompt_id="bench",
                           services=services, prompt={}, extra_data={}, emit=events.append,
                           interrupt=InterruptFlag())

    vlm = vlm_loader(context(), args.model)[0]
    generator = torch.Generator().manual_seed(0)
    image = (torch.randint(0, 256, (1, 40, 70, 3), generator=generator).float() / 255.0)
    prompt = "Describe the image."
    folder = base / "models" / DEMO_VLM_MODELS["llava" if args.model == "tiny-llava" else "llava_next"]
    import transformers
    from transformers import AutoProcessor

    model = getattr(transformers, vlm.model.__class__.__name__).from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    chat = processor.apply_chat_template(conversation, add_generation_prompt=True)

    def direct() -> tuple[str, int]:
        inputs = processor(images=tensor_to_pil_images(image), text=[chat], return_tensors="pt")
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False)
        new = output[0, inputs["input_ids"].shape[1]:]
        return processor.decode(new, skip_special_tokens=True).strip(), int(new.numel())

    def node() -> tuple[str, int]:
        text = vlm_caption(context(), vlm, image, prompt, args.tokens, 0.0, 1.0, 0)[0][0]
        return text, sum(1 for e in events if e.type == "progress")

    direct_text, direct_tokens = direct()
    node_text, node_tokens = node()
    assert direct_text == node_text, (direct_text, node_text)
    best = {"direct": float("inf"), "node": float("inf")}
    best_cpu = dict(best)  # CPU seconds: robust when other processes share the cores
    for _ in range(args.repeats):
        for name, fn in (("direct", direct), ("node", node)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
            best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
    print(f"{args.model}: {direct_tokens} tokens per caption (identical text), threads {torch.get_num_threads()}, "
          f"min of {args.repeats} interleaved runs")
    for label, table in (("wall", best), ("cpu", best_cpu)):
        direct_rate, node_rate = direct_tokens / table["direct"], node_tokens / table["node"]
        print(f"[{label}] direct processor + model.generate: {table['direct'] * 1000:7.1f} ms {direct_rate:8.1f} tok/s"
              f" | VLMCaption node: {table['node'] * 1000:7.1f} ms {node_rate:8.1f} tok/s"
              f" | ratio {node_rate / direct_rate:.3f} (target >= 0.95)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
