"""VLMLoader / VLMCaption: fidelity to ``model.generate``, token streaming, interrupt, bad input."""
from __future__ import annotations

import pytest

from tests.fixtures.vlm import random_image

MAX_NEW = 10
PROMPT = "What is in the image?"


def _direct_caption(folder, image, prompt: str, max_new_tokens: int) -> str:
    """The reference: transformers' own classes called directly, greedy."""
    import transformers
    from transformers import AutoConfig, AutoProcessor

    from models.vision_language.images import tensor_to_pil_images

    class_name = AutoConfig.from_pretrained(folder).architectures[0]
    model = getattr(transformers, class_name).from_pretrained(folder).eval()
    processor = AutoProcessor.from_pretrained(folder)
    conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True)
    inputs = processor(images=tensor_to_pil_images(image), text=[text], return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    return processor.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def _caption_prompt(vlm_name: str, max_new_tokens: int = MAX_NEW, prompt: str = PROMPT, **extra) -> dict:
    return {
        "1": {"class_type": "VLMLoader", "inputs": {"vlm_name": vlm_name}},
        "2": {"class_type": "LoadImagesFromFolder", "inputs": {"folder": "imgs", "limit": 0, "start_index": 0,
                                                               "recursive": False}},
        "3": {"class_type": "VLMCaption", "inputs": {"vlm": ["1", 0], "image": ["2", 0], "prompt": prompt,
                                                     "max_new_tokens": max_new_tokens, "temperature": 0.0,
                                                     "top_p": 1.0, "seed": 0, **extra}},
        "4": {"class_type": "PreviewText", "inputs": {"text": ["3", 0]}},
    }


@pytest.mark.parametrize("vlm_name", ["tiny-llava", "tiny-llava-next"])
def test_caption_matches_generate_and_streams_tokens(vlm_env, vlm_models_dir, vlm_name):
    from tests.fixtures.vlm import save_png

    images = [random_image(1, 40, 70), random_image(2, 32, 32)]  # 40x70: 5 AnyRes tiles for LLaVA-NeXT
    for index, image in enumerate(images):
        save_png(image, vlm_env.services.paths.input_dir / "imgs" / f"{index}.png")
    record = vlm_env.run(_caption_prompt(vlm_name, batch_size=1))  # batching: test_vlm_families.py
    assert record.result.status == "success", record.result.error
    captions = record.result.outputs["4"]["text"]
    folder = vlm_models_dir / "vlm" / vlm_name
    assert captions == [_direct_caption(folder, image, PROMPT, MAX_NEW) for image in images]
    assert all(captions)

    texts = [e for e in record.of_type("text") if e.node == "3"]
    progress = [e for e in record.of_type("progress") if e.node == "3"]
    # one text frame and one progress step per generated token, per image; the last frame is the caption
    assert len(progress) >= 2 and 2 <= len(texts) <= len(progress)
    assert all(p.max == MAX_NEW for p in progress)
    values = [p.value for p in progress]
    second_start = values.index(1, 1)  # progress restarts at 1 for the second image
    assert values[:second_start] == list(range(1, second_start + 1))
    # frames are appended pieces: together they spell the captions, one line per image
    streamed = "".join(t.text for t in texts).split("\n")
    assert [line.strip() for line in streamed] == captions
    assert len(texts) >= len(captions[0].split()) + len(captions[1].split())  # streamed piece by piece


def test_interrupt_stops_generation_within_one_token(vlm_env):
    from tests.fixtures.vlm import save_png

    save_png(random_image(3), vlm_env.services.paths.input_dir / "imgs" / "a.png")
    seen: list = []

    def interrupt_after_third_token(event, env):
        if event.type == "text":
            seen.append(event)
            if len(seen) == 3:
                env.runner.interrupt.set()

    vlm_env.on_event = interrupt_after_third_token
    record = vlm_env.run(_caption_prompt("tiny-llava", max_new_tokens=40))
    vlm_env.runner.interrupt.clear()
    assert record.result.status == "interrupted"
    assert len(seen) == 3  # no token after the one that saw the interrupt
    assert not record.of_type("execution_success")


def test_sampling_is_seeded_and_leaves_global_rng_alone(vlm_env):
    import torch

    from nodes.understanding.vlm import vlm_caption, vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-llava")
    image = random_image(4)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = vlm_caption(vlm_env.context(), vlm, image, PROMPT, 6, 1.0, 0.9, 7)[0]
    assert torch.equal(torch.rand(1), expected_next)  # sampling used a private RNG
    again = vlm_caption(vlm_env.context(), vlm, image, PROMPT, 6, 1.0, 0.9, 7)[0]
    assert first == again
    others = {vlm_caption(vlm_env.context(), vlm, image, PROMPT, 6, 1.0, 0.9, seed)[0][0] for seed in range(4)}
    assert len(others) > 1  # different seeds sample different replies


def test_batch_gives_one_string_per_image_and_clamps_to_context(vlm_env):
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-llava")
    batch = torch.cat([random_image(5, 32, 32), random_image(6, 32, 32)])
    replies = vlm_caption(vlm_env.context(), vlm, batch, PROMPT, 4, 0.0, 1.0, 0)[0]
    assert len(replies) == 2 and all(isinstance(r, str) and r for r in replies)

    picture = batch[:1]  # now grow the prompt until only a few positions are left for the reply

    def room(n_words: int) -> int:
        prompt_tokens = vlm.prepare(tensor_to_pil_images(picture)[0], "cat " * n_words)["input_ids"].shape[1]
        return vlm.context_length - prompt_tokens

    low, high = 1, 2000
    while low < high:  # the most words that leave at least 3 positions
        words = (low + high + 1) // 2
        low, high = (words, high) if room(words) >= 3 else (low, words - 1)
    left = room(low)
    events: list = []
    reply = vlm_caption(vlm_env.context(events), vlm, picture, "cat " * low, left + 100, 0.0, 1.0, 0)[0]
    progress = [e for e in events if e.type == "progress"]
    warnings = [e.message for e in events if e.type == "warning"]
    assert len(reply) == 1 and warnings and "context" in warnings[0]
    assert progress and all(p.max == left for p in progress) and len(progress) <= left


def test_prompt_longer_than_context_fails_clearly_and_the_worker_goes_on(vlm_env):
    from tests.fixtures.vlm import save_png

    save_png(random_image(8), vlm_env.services.paths.input_dir / "imgs" / "a.png")
    record = vlm_env.run(_caption_prompt("tiny-llava", prompt="the cat " * 400))
    assert record.result.status == "error"
    assert "context" in record.result.error["exception_message"]
    assert record.result.error["node_id"] == "3"
    assert vlm_env.run(_caption_prompt("tiny-llava", max_new_tokens=3)).result.status == "success"


def test_loader_rejects_a_folder_that_is_not_a_vlm(vlm_env, vlm_models_dir):
    import shutil

    from nodes.understanding.vlm import vlm_loader

    extra = vlm_env.base / "extra_vlm"
    shutil.copytree(vlm_models_dir / "clip_models" / "tiny-clip", extra / "not-a-vlm")
    vlm_env.services.paths.add_model_folder("vlm", extra)
    with pytest.raises(ValueError, match="unsupported VLM type 'clip'"):
        vlm_env.load(vlm_loader, "not-a-vlm")
    with pytest.raises(FileNotFoundError, match="not found"):
        vlm_env.load(vlm_loader, "missing-model")
