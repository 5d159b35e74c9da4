"""Every VLM family against transformers called directly on the same tiny weights (greedy, token for
token), batched captioning against one at a time, Qwen2-VL video answers, continuation scores."""
from __future__ import annotations

import pytest

from tests.fixtures.vlm import random_image

MAX_NEW = 8
PROMPT = "What is in the image?"
FAMILIES = ["tiny-blip2-opt", "tiny-blip2-flan-t5", "tiny-qwen2-vl", "tiny-qwen2.5-vl", "tiny-qwen3-vl"]
QWEN_PROCESSORS = {"qwen2_vl": "Qwen2VLProcessor", "qwen2_5_vl": "Qwen2_5_VLProcessor",
                   "qwen3_vl": "Qwen3VLProcessor"}


class _MergeOnlyVideoProcessor:
    """Stands in for the torchvision-only video processor inside transformers' own Qwen processor:
    its image path never calls it; the video reference below hands it precomputed patches."""

    merge_size = 2
    temporal_patch_size = 2

    def __init__(self, patches=None, grid=None, fps=None):
        self.patches, self.grid, self.fps = patches, grid, fps

    def __call__(self, videos=None, **kwargs):
        from types import SimpleNamespace

        from transformers import BatchFeature

        return BatchFeature({"pixel_values_videos": self.patches, "video_grid_thw": self.grid,
                             "video_metadata": [SimpleNamespace(sampled_fps=self.fps)]})


def _reference_processor(folder, monkeypatch, video_processor=None):
    """transformers' own processor for the folder (Qwen's built around a stand-in video processor)."""
    import transformers
    from transformers import AutoConfig, AutoProcessor, AutoTokenizer, Qwen2VLImageProcessorPil

    model_type = AutoConfig.from_pretrained(folder).model_type
    if model_type not in QWEN_PROCESSORS:
        return AutoProcessor.from_pretrained(folder)
    monkeypatch.setattr(transformers, "VideoProcessorMixin", _MergeOnlyVideoProcessor, raising=False)
    return getattr(transformers, QWEN_PROCESSORS[model_type])(
        image_processor=Qwen2VLImageProcessorPil.from_pretrained(folder), tokenizer=AutoTokenizer.from_pretrained(folder),
        video_processor=video_processor or _MergeOnlyVideoProcessor(),
        chat_template=(folder / "chat_template.jinja").read_text())


def _reference_model(folder):
    import transformers
    from transformers import AutoConfig

    return getattr(transformers, AutoConfig.from_pretrained(folder).architectures[0]).from_pretrained(folder).eval()


def _reference_reply(model, processor, inputs) -> str:
    output = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False)
    start = 0 if model.config.is_encoder_decoder else inputs["input_ids"].shape[1]
    return processor.tokenizer.decode(output[0, start:], skip_special_tokens=True).strip()


@pytest.mark.parametrize("vlm_name", FAMILIES)
def test_family_captions_equal_generate_batched_and_one_at_a_time(vlm_env, vlm_models_dir, monkeypatch, vlm_name):
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / vlm_name
    model, processor = _reference_model(folder), _reference_processor(folder, monkeypatch)
    if getattr(processor, "chat_template", None):
        conversation = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": PROMPT}]}]
        text = processor.apply_chat_template(conversation, add_generation_prompt=True)
    else:  # BLIP-2: the plain VQA format it was trained on
        text = f"Question: {PROMPT} Answer:"
    sizes = [(40, 56), (64, 32), (32, 32)]  # different sizes: different token counts for Qwen (left padding)
    images = [random_image(seed, height, width) for seed, (height, width) in enumerate(sizes, 20)]
    expected = [_reference_reply(model, processor, processor(images=tensor_to_pil_images(image), text=[text],
                                                                     return_tensors="pt")) for image in images]

    vlm = vlm_env.load(vlm_loader, vlm_name)
    replies, boxes = vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=3)  # one padded batch
    assert replies == expected
    one_by_one = vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=1)[0]
    assert one_by_one == expected
    assert any(expected), "the tiny model answered nothing at all: the comparison would be empty"
    assert len(boxes) == 3


def test_padded_batches_equal_one_at_a_time_and_stream_in_order(vlm_env):
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-qwen2-vl")
    images = [random_image(seed, 48, 48 + 8 * seed % 24) for seed in range(30, 35)]  # a list of sizes
    singles = [vlm_caption(vlm_env.context(), vlm, image, PROMPT, MAX_NEW, batch_size=1)[0][0] for image in images]
    events: list = []
    replies = vlm_caption(vlm_env.context(events), vlm, images, PROMPT, MAX_NEW, batch_size=3)[0]
    assert replies == singles
    streamed = "".join(e.text for e in events if e.type == "text").split("\n")
    assert [line.strip() for line in streamed] == replies  # one line per reply, in order
    progress = [e.value for e in events if e.type == "progress"]
    assert progress[0] == 1 and progress.count(1) == 2  # two batches (3 + 2), one step per token


@pytest.mark.parametrize("vlm_name", ["tiny-qwen2-vl", "tiny-qwen2.5-vl"])
def test_qwen_video_answer_equals_transformers_on_the_same_frames(vlm_env, vlm_models_dir, monkeypatch, vlm_name):
    import numpy as np
    import torch
    from transformers import Qwen2VLImageProcessorPil

    from models.video.container import VideoComponents, VideoFromComponents
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / vlm_name
    frames = torch.cat([random_image(seed, 40, 56) for seed in range(40, 44)])  # 4 frames: 2 temporal patches
    pictures = tensor_to_pil_images(frames)
    # reference patches, patch by patch: each spatial patch holds frame 2t then frame 2t+1 along time
    image_processor = Qwen2VLImageProcessorPil.from_pretrained(folder)
    per_frame = [image_processor(images=[p], return_tensors="np") for p in pictures]
    _, grid_h, grid_w = per_frame[0]["image_grid_thw"][0]
    rows = []
    for step in range(2):
        first, second = (per_frame[2 * step + k]["pixel_values"].reshape(grid_h * grid_w, 3, 2, 64) for k in (0, 1))
        for patch in range(grid_h * grid_w):
            rows.append(np.stack([first[patch, :, 0], second[patch, :, 0]], axis=1).reshape(-1))
    patches, grid = torch.from_numpy(np.stack(rows)), torch.tensor([[2, grid_h, grid_w]])
    static = image_processor(images=[pictures[0]], return_tensors="pt")["pixel_values"]
    vlm = vlm_env.load(vlm_loader, vlm_name)
    still = vlm.prepare_video([pictures[0]] * 2, "x", 2.0)["pixel_values_videos"]
    assert torch.equal(still, static)  # a still video is the picture, as the image processor lays it out

    processor = _reference_processor(folder, monkeypatch, _MergeOnlyVideoProcessor(patches, grid, 2.0))
    conversation = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": PROMPT}]}]
    text = processor.apply_chat_template(conversation, add_generation_prompt=True)
    inputs = processor(videos=[pictures], text=[text], return_tensors="pt")
    expected = _reference_reply(_reference_model(folder), processor, inputs)

    video = VideoFromComponents(VideoComponents(images=frames, frame_rate=2))
    ours = vlm.prepare_video(pictures, PROMPT, 2.0)
    assert torch.equal(ours["pixel_values_videos"], patches) and torch.equal(ours["input_ids"], inputs["input_ids"])
    if "second_per_grid_ts" in inputs:  # Qwen2.5-VL: temporal positions spaced by seconds per temporal patch
        assert torch.allclose(ours["second_per_grid_ts"], torch.as_tensor(inputs["second_per_grid_ts"]).float())
    replies, boxes = vlm_caption(vlm_env.context(), vlm, None, PROMPT, MAX_NEW, video=video)
    assert replies == [expected] and expected


def test_continuation_scores_are_the_models_log_likelihoods(vlm_env):
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_loader

    for name in ("tiny-qwen2-vl", "tiny-blip2-flan-t5"):
        vlm = vlm_env.load(vlm_loader, name)
        picture = tensor_to_pil_images(random_image(50))[0]
        scores = vlm.score_continuations(picture, PROMPT, ["a cat", "the red dog", "a cat"])
        assert scores[0] == pytest.approx(scores[2]) and scores[0] != pytest.approx(scores[1])
        assert all(s < 0 for s in scores)
        # the greedy reply is the most likely continuation of its own length, token by token
        reply_ids = vlm.model.generate(**vlm.prepare(picture, PROMPT), max_new_tokens=1, do_sample=False)[0, -1:]
        best = vlm.tokenizer.decode(reply_ids)
        with torch.inference_mode():
            assert vlm.score_continuations(picture, PROMPT, [best])[0] >= max(scores[:2]) - 1e-6 or len(best) == 0


def test_loader_reads_the_family_from_the_config(vlm_env):
    from nodes.understanding.vlm import vlm_loader

    families = {name: vlm_env.load(vlm_loader, name).family.name for name in
                ("tiny-llava", "tiny-blip2-opt", "tiny-qwen2.5-vl", "tiny-qwen3-vl")}
    assert families == {"tiny-llava": "llava", "tiny-blip2-opt": "blip2", "tiny-qwen2.5-vl": "qwen_vl",
                        "tiny-qwen3-vl": "qwen_vl"}
    with pytest.raises(ValueError, match="does not take videos"):
        vlm_env.load(vlm_loader, "tiny-llava").prepare_video([], PROMPT, 1.0)


def test_several_images_in_one_prompt_match_the_processors(vlm_env, vlm_models_dir, monkeypatch):
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_loader

    pictures = [tensor_to_pil_images(random_image(seed, 40, 48 + 8 * seed % 3))[0] for seed in (60, 61)]
    for name in ("tiny-qwen2-vl", "tiny-llava"):
        vlm = vlm_env.load(vlm_loader, name)
        folder = vlm_models_dir / "vlm" / name
        processor = _reference_processor(folder, monkeypatch)
        content = [{"type": "image"}, {"type": "image"}, {"type": "text", "text": PROMPT}]
        text = processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)
        expected = processor(images=pictures, text=[text], return_tensors="pt")
        ours = vlm.prepare_group(pictures, PROMPT)
        assert torch.equal(ours["input_ids"], expected["input_ids"])
        assert torch.equal(ours["pixel_values"], expected["pixel_values"])
        two, one = vlm.score_continuations(pictures, PROMPT, ["a cat"]), vlm.score_continuations(pictures[0], PROMPT,
                                                                                                 ["a cat"])
        assert two != one
    with pytest.raises(ValueError, match="one image per prompt"):
        vlm_env.load(vlm_loader, "tiny-blip2-opt").prepare_group(pictures, PROMPT)
