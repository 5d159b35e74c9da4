"""Captioning speed on the same tiny weights, greedy, min of N interleaved runs after a warm-up.

single: the VLMCaption node on one image (streaming every token as text + progress events, with the
        interrupt check) against ``processor`` + ``model.generate`` called directly (LLaVA models).
batch:  N images captioned by the node one at a time (batch_size 1) and in padded batches
        (batch_size B), against ``model.generate`` called directly on the same padded batches.
        The captions are checked identical first; tokens/s counts each reply's tokens up to its end.

    python bench/vlm.py [--mode single|batch|both] [--model tiny-llava] [--tokens 64] [--images 8]
                        [--batch 8] [--repeats 25] [--threads 1]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _timed(functions: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall and CPU seconds of each function, runs interleaved."""
    best = {name: float("inf") for name in functions}
    best_cpu = dict(best)  # CPU seconds: robust when other processes share the cores
    for _ in range(repeats):
        for name, function in functions.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            function()
            best[name] = min(best[name], time.perf_counter() - start)
            best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
    return best, best_cpu


def bench_single(args, vlm, folder, context, events) -> None:
    import torch
    import transformers
    from transformers import AutoProcessor

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption

    generator = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (1, 40, 70, 3), generator=generator).float() / 255.0
    prompt = "Describe the image."
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
        text = vlm_caption(context(), vlm, image, prompt, args.tokens, 0.0, 1.0, 0, 1)[0][0]
        return text, sum(1 for e in events if e.type == "progress")

    direct_text, direct_tokens = direct()
    node_text, node_tokens = node()
    assert direct_text == node_text, (direct_text, node_text)
    best, best_cpu = _timed({"direct": direct, "node": node}, args.repeats)
    print(f"single, {args.model}: {direct_tokens} tokens per caption (identical text), threads "
          f"{torch.get_num_threads()}, min of {args.repeats} interleaved runs")
    for label, table in (("wall", best), ("cpu", best_cpu)):
        direct_rate, node_rate = direct_tokens / table["direct"], node_tokens / table["node"]
        print(f"[{label}] direct processor + model.generate: {table['direct'] * 1000:7.1f} ms {direct_rate:8.1f} tok/s"
              f" | VLMCaption node: {table['node'] * 1000:7.1f} ms {node_rate:8.1f} tok/s"
              f" | ratio {node_rate / direct_rate:.3f} (target >= 0.95)")


def bench_batch(args, vlm, context) -> None:
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption

    generator = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (args.images, 40, 56, 3), generator=generator).float() / 255.0
    prompt = "Describe the image."
    ends = vlm._end_token_ids() | {vlm._pad_token_id()}

    def direct() -> tuple[list[str], int]:
        """The processor and ``model.generate`` on the same padded batches, nothing streamed."""
        replies, tokens = [], 0
        pictures = tensor_to_pil_images(images)
        with torch.inference_mode():
            for start in range(0, len(pictures), args.batch):
                inputs = vlm.prepare(pictures[start:start + args.batch], prompt)
                output = vlm.model.generate(**inputs, max_new_tokens=args.tokens, do_sample=False,
                                            pad_token_id=vlm._pad_token_id())
                start = 0 if vlm.is_encoder_decoder else inputs["input_ids"].shape[1]
                replies.extend(vlm.tokenizer.decode(row, skip_special_tokens=True).strip() for row in output[:, start:])
                tokens += sum(_reply_length(row.tolist(), ends) for row in output[:, start:])
        return replies, tokens

    one_at_a_time = vlm_caption(context(), vlm, images, prompt, args.tokens, 0.0, 1.0, 0, 1)[0]
    batched = vlm_caption(context(), vlm, images, prompt, args.tokens, 0.0, 1.0, 0, args.batch)[0]
    reference, tokens = direct()
    assert one_at_a_time == batched == reference, (one_at_a_time, batched, reference)
    best, best_cpu = _timed({
        "one": lambda: vlm_caption(context(), vlm, images, prompt, args.tokens, 0.0, 1.0, 0, 1),
        "batched": lambda: vlm_caption(context(), vlm, images, prompt, args.tokens, 0.0, 1.0, 0, args.batch),
        "generate": direct}, args.repeats)
    print(f"batch, {args.model}: {args.images} images, {tokens} tokens in all (identical captions), batch {args.batch}, "
          f"threads {torch.get_num_threads()}, min of {args.repeats} interleaved runs")
    for label, table in (("wall", best), ("cpu", best_cpu)):
        rates = {name: tokens / seconds for name, seconds in table.items()}
        print(f"[{label}] one at a time: {rates['one']:8.1f} tok/s | batched node: {rates['batched']:8.1f} tok/s"
              f" | speed-up {rates['batched'] / rates['one']:.2f}x (target >= 3)"
              f" | model.generate on the same batches: {rates['generate']:8.1f} tok/s"
              f" | node/generate {rates['batched'] / rates['generate']:.3f} (target >= 0.95)")


def _reply_length(row: list[int], ends: set) -> int:
    for index, token in enumerate(row):
        if token in ends:
            return index + 1
    return len(row)


def main() -> int:
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from execution.context import InterruptFlag, NodeContext
    from models.demo.vlm import write_demo_vlm
    from models.folders import FolderPaths
    from models.services import Services
    from nodes.understanding.vlm import vlm_loader

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="both", choices=["single", "batch", "both"])
    parser.add_argument("--model", default="tiny-llava", help="a demo VLM folder name (single mode: a LLaVA)")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
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
    if args.mode in ("single", "both"):
        bench_single(args, vlm, base / "models" / "vlm" / args.model, context, events)
    if args.mode in ("batch", "both"):
        bench_batch(args, vlm, context)
    return 0


if __name__ == "__main__":
    sys.exit(main())
