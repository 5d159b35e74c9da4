"""Caption a folder of images into a JSONL file, resumably: the ShareGPT4V-style re-captioning job.

Each line is ``{"file": name, "caption": text}`` (plus ``"clip_score"`` when a CLIP model is given),
appended and flushed batch by batch, so a stopped run loses at most one batch and a re-run skips
every image already in the file.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from execution.declare import Boolean, In, Int, Out, String, node


def captioned_files(path: Path) -> set[str]:
    """The images a JSONL file already has captions for (a torn last line is ignored)."""
    done: set[str] = set()
    if not path.is_file():
        return done
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            try:
                done.add(json.loads(line)["file"])
            except (ValueError, KeyError, TypeError):
                continue
    return done


def eta_text(done: int, total: int, elapsed: float) -> str:
    if done <= 0 or elapsed <= 0:
        return "ETA unknown"
    seconds = int(round(elapsed / done * (total - done)))
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}h{minutes:02}m{seconds:02}s" if hours else f"ETA {minutes}m{seconds:02}s"


@node("VLMCaptionDataset", display_name="VLM Caption Dataset (JSONL, resumable)", category="multimodal",
      output_node=True, not_idempotent=True,
      inputs=[In("vlm", "VLM"), String("folder", "dataset", tooltip="a folder inside input/"),
              String("prompt", "Describe the image in detail.", multiline=True),
              Int("max_new_tokens", 64, min=1, max=4096), Int("batch_size", 8, min=1, max=256),
              String("output_file", "captions/dataset.jsonl", tooltip="inside output/; appended, never rewritten"),
              Boolean("recursive", False),
              In("clip_model", "CLIP_MODEL", optional=True, tooltip="adds a clip_score column")],
      outputs=[Out("STRING", "report")])
def vlm_caption_dataset(ctx, vlm, folder: str, prompt: str, max_new_tokens: int = 64, batch_size: int = 8,
                        output_file: str = "captions/dataset.jsonl", recursive: bool = False, clip_model=None):
    """Caption every image of the folder not yet in the JSONL file, greedily, in padded batches."""
    from models.folders import confined
    from models.vision_language.generation import GenerationSettings
    from models.vision_language.images import tensor_to_pil_images
    from nodes.image.dataset import _folder, _image_files
    from nodes.image.images import load_image_file
    from nodes.understanding.vlm import _token_budget

    root = _folder(ctx.services, folder)
    if not root.is_dir():
        raise ValueError(f"folder not found: {folder!r} (looked in {root})")
    target = confined(ctx.services.paths.output_dir, output_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    files = _image_files(root, bool(recursive))
    done = captioned_files(target)
    todo = [path for path in files if path.relative_to(root).as_posix() not in done]
    report = {"file": target.name, "images": len(files), "already_captioned": len(files) - len(todo),
              "captioned": 0, "unreadable": 0}
    started = time.perf_counter()
    with open(target, "a", encoding="utf-8") as out:
        if _ends_mid_line(target):  # a torn last line stays a line of its own, ignored on reading
            out.write("\n")
        for start in range(0, len(todo), batch_size):
            ctx.check_interrupt()
            names, images = [], []
            for path in todo[start:start + batch_size]:
                try:
                    images.append(load_image_file(path)[0][:1])
                except (OSError, ValueError, SyntaxError) as exc:
                    ctx.warn(f"skipped {path.name}: not a readable image ({exc})")
                    report["unreadable"] += 1
                    continue
                names.append(path.relative_to(root).as_posix())
            if not images:
                continue
            pictures = [tensor_to_pil_images(image)[0] for image in images]
            inputs = vlm.prepare(pictures, prompt)
            budget = _token_budget(ctx, vlm, vlm.prompt_tokens(inputs), max_new_tokens)
            replies = [r.strip() for r in vlm.generate_batch(inputs, GenerationSettings(budget),
                                                             should_stop=lambda: ctx.interrupted)]
            ctx.check_interrupt()  # an interrupted batch is not written: it is redone on resume
            scores = (clip_model.pair_cosine(images, replies)
                      if clip_model is not None else None)
            for index, (name, reply) in enumerate(zip(names, replies)):
                row = {"file": name, "caption": reply}
                if scores is not None:
                    row["clip_score"] = round(float(scores[index]), 6)
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
            report["captioned"] += len(names)
            finished = min(start + batch_size, len(todo))
            ctx.send_text(f"{finished}/{len(todo)} new captions, "
                          f"{eta_text(finished, len(todo), time.perf_counter() - started)}\n")
            ctx.progress(finished, len(todo))
    report["seconds"] = round(time.perf_counter() - started, 3)
    summary = json.dumps(report)
    return {"ui": {"text": [summary]}, "result": (summary,)}


def _ends_mid_line(path: Path) -> bool:
    if path.stat().st_size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
