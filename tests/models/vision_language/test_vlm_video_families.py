"""LLaVA-OneVision (images, several images, video), Video-LLaVA (images, video) and Qwen3-VL video
against transformers on the same tiny weights: the inputs equal transformers' own processors'
(their torchvision-only video processors replaced by a stand-in that hands over the frames'
pixels, checked here against the documented steps), and the replies equal ``model.generate``
greedy, token for token."""
from __future__ import annotations

import pytest

from tests.fixtures.vlm import random_image

MAX_NEW = 8
PROMPT = "What is in the image?"


class _StandInVideoProcessor:
    """Replaces a torchvision-only video processor inside transformers' processors: hands over
    precomputed pixels (and, for Qwen3-VL, the grid and the frames' timing)."""

    merge_size = 2
    temporal_patch_size = 2

    def __init__(self, outputs: dict | None = None):
        self.outputs = outputs or {}

    def __call__(self, videos=None, **kwargs):
        from transformers import BatchFeature

        return BatchFeature(dict(self.outputs))


@pytest.fixture
def stand_in_video_processor(monkeypatch):
    """transformers checks a processor's parts by class, looked up on its own module object."""
    import transformers
    from transformers import processing_utils

    for module in (transformers, processing_utils.transformers_module):
        monkeypatch.setattr(module, "VideoProcessorMixin", _StandInVideoProcessor, raising=False)
    return _StandInVideoProcessor


def _onevision_reference(folder, video_outputs: dict | None = None):
    import json

    from transformers import AutoTokenizer, LlavaOnevisionImageProcessorPil, LlavaOnevisionProcessor

    settings = json.loads((folder / "processor_config.json").read_text())
    return LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessorPil.from_pretrained(folder),
        tokenizer=AutoTokenizer.from_pretrained(folder, padding_side="left"),
        video_processor=_StandInVideoProcessor(video_outputs), num_image_tokens=settings["num_image_tokens"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        vision_aspect_ratio=settings["vision_aspect_ratio"], chat_template=(folder / "chat_template.jinja").read_text())


def _reference_model(folder):
    import transformers
    from transformers import AutoConfig

    return getattr(transformers, AutoConfig.from_pretrained(folder).architectures[0]).from_pretrained(folder).eval()


def _generate(model, tokenizer, inputs) -> str:
    output = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False)
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()


def _chat(processor, *media: str, prompt: str = PROMPT) -> str:
    content = [{"type": kind} for kind in media] + [{"type": "text", "text": prompt}]
    return processor.apply_chat_template([{"role": "user", "content": content}], add_generation_prompt=True)


def test_onevision_images_equal_transformers_processor_and_generate(vlm_env, vlm_models_dir,
                                                                  stand_in_video_processor):
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / "tiny-llava-onevision"
    reference, model = _onevision_reference(folder), _reference_model(folder)
    vlm = vlm_env.load(vlm_loader, "tiny-llava-onevision")
    assert vlm.family.name == "llava_onevision"
    text = _chat(reference, "image")
    assert vlm.chat_text(PROMPT) == text
    # tile grids 1x1 .. 3x1 / 1x3, wide and tall padding, and 2x2 (shrunk: over anyres_max_2's budget)
    sizes = [(40, 56), (64, 32), (32, 32), (20, 90), (100, 30), (70, 70)]
    images = [random_image(seed, height, width) for seed, (height, width) in enumerate(sizes, 70)]
    expected = []
    for image in images:
        inputs = reference(images=tensor_to_pil_images(image), text=[text], return_tensors="pt")
        ours = vlm.prepare(tensor_to_pil_images(image), PROMPT)
        for key in ("input_ids", "pixel_values", "image_sizes", "batch_num_images"):
            assert torch.equal(ours[key], inputs[key]), key
        expected.append(_generate(model, reference.tokenizer, inputs))
    assert len({tuple(vlm.prepare(tensor_to_pil_images(i), PROMPT)["input_ids"].shape) for i in images}) > 3

    replies, _ = vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=6)  # one padded batch
    assert replies == expected and any(expected)
    assert vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=1)[0] == expected

    # several pictures in one prompt: one square view each, transformers' nested-list layout
    pictures = [tensor_to_pil_images(images[0])[0], tensor_to_pil_images(images[3])[0]]
    inputs = reference(images=[pictures], text=[_chat(reference, "image", "image")], return_tensors="pt")
    ours = vlm.prepare_group(pictures, PROMPT)
    assert torch.equal(ours["input_ids"], inputs["input_ids"]) and torch.equal(ours["pixel_values"],
                                                                               inputs["pixel_values"])
    two, one = (vlm.score_continuations(p, PROMPT, ["a cat"])[0] for p in (pictures, pictures[0]))
    assert two != one


def test_onevision_video_answer_equals_generate_on_the_same_frames(vlm_env, vlm_models_dir,
                                                                   stand_in_video_processor):
    import numpy as np
    import torch

    from models.video.container import VideoComponents, VideoFromComponents
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / "tiny-llava-onevision"
    frames = torch.cat([random_image(seed, 40, 56) for seed in range(80, 85)])  # 5 frames
    pictures = tensor_to_pil_images(frames)
    # the video processor's documented steps: RGB, bicubic resize to size (32x32), x/255, (x - 0.5) / 0.5
    resized = [np.asarray(p.resize((32, 32), 3), dtype=np.float64).transpose(2, 0, 1) for p in pictures]
    documented = torch.from_numpy(np.stack([((r / 255) - 0.5) / 0.5 for r in resized])[None]).float()
    vlm = vlm_env.load(vlm_loader, "tiny-llava-onevision")
    ours = vlm.prepare_video(pictures, PROMPT, 8.0)
    assert torch.allclose(ours["pixel_values_videos"], documented, atol=1e-6)
    # and exactly the whole-picture view the image processor makes of each frame
    views = torch.stack([vlm.processor.image_processor(images=[p], return_tensors="pt")["pixel_values"][0, 0]
                         for p in pictures])
    assert torch.equal(ours["pixel_values_videos"][0], views)

    reference = _onevision_reference(folder, {"pixel_values_videos": ours["pixel_values_videos"]})
    inputs = reference(videos=[pictures], text=[_chat(reference, "video")], return_tensors="pt")
    assert torch.equal(ours["input_ids"], inputs["input_ids"])
    assert int((inputs["input_ids"] == reference.video_token_id).sum()) == 5 * 2 * 2 + 1  # 2x2 pooled + newline
    expected = _generate(_reference_model(folder), reference.tokenizer, inputs)
    video = VideoFromComponents(VideoComponents(images=frames, frame_rate=8))
    replies, _ = vlm_caption(vlm_env.context(), vlm, None, PROMPT, MAX_NEW, video=video)
    assert replies == [expected] and expected


def test_onevision_streams_and_stops_within_one_token(vlm_env):
    from execution.context import InterruptedError_, InterruptFlag
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-llava-onevision")
    images = [random_image(90, 40, 56), random_image(91, 64, 32)]
    events: list = []
    replies = vlm_caption(vlm_env.context(events), vlm, images, PROMPT, MAX_NEW, batch_size=2)[0]
    streamed = "".join(e.text for e in events if e.type == "text").split("\n")
    assert [line.strip() for line in streamed] == replies  # one line per reply, in order

    interrupt, seen = InterruptFlag(), []

    class Recorder(list):
        def append(self, event) -> None:
            if event.type == "progress":
                seen.append(event.value)
                if len(seen) == 3:
                    interrupt.set()

    context = vlm_env.context(Recorder(), interrupt)
    with pytest.raises(InterruptedError_):
        vlm_caption(context, vlm, images[:1], PROMPT, 40)
    assert seen == [1, 2, 3]  # no token after the one that saw the interrupt


def _video_llava_reference(folder, video_outputs: dict | None = None):
    import json

    from transformers import AutoTokenizer, VideoLlavaImageProcessor, VideoLlavaProcessor

    settings = json.loads((folder / "processor_config.json").read_text())
    return VideoLlavaProcessor(
        image_processor=VideoLlavaImageProcessor.from_pretrained(folder),
        video_processor=_StandInVideoProcessor(video_outputs),
        tokenizer=AutoTokenizer.from_pretrained(folder, padding_side="left"), patch_size=settings["patch_size"],
        vision_feature_select_strategy=settings["vision_feature_select_strategy"],
        chat_template=(folder / "chat_template.jinja").read_text())


def test_video_llava_images_and_video_equal_transformers(vlm_env, vlm_models_dir, stand_in_video_processor):
    import numpy as np
    import torch

    from models.video.container import VideoComponents, VideoFromComponents
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / "tiny-video-llava"
    reference, model = _video_llava_reference(folder), _reference_model(folder)
    vlm = vlm_env.load(vlm_loader, "tiny-video-llava")
    assert vlm.family.name == "video_llava"
    text = _chat(reference, "image")
    images = [random_image(seed, height, width) for seed, (height, width) in enumerate([(40, 56), (64, 32)], 110)]
    expected = []
    for image in images:
        inputs = reference(images=tensor_to_pil_images(image), text=[text], return_tensors="pt")
        ours = vlm.prepare(tensor_to_pil_images(image), PROMPT)
        assert torch.equal(ours["input_ids"], inputs["input_ids"])
        assert torch.equal(ours["pixel_values"], torch.as_tensor(inputs["pixel_values_images"]))
        expected.append(_generate(model, reference.tokenizer, inputs))
    assert vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=2)[0] == expected
    assert vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=1)[0] == expected
    pair = [tensor_to_pil_images(image)[0] for image in images]  # two pictures in one prompt
    inputs = reference(images=pair, text=[_chat(reference, "image", "image")], return_tensors="pt")
    assert torch.equal(vlm.prepare_group(pair, PROMPT)["input_ids"], inputs["input_ids"])
    assert vlm.score_continuations(pair, PROMPT, ["a cat"]) != vlm.score_continuations(pair[0], PROMPT, ["a cat"])

    frames = torch.cat([random_image(seed, 40, 56) for seed in range(120, 128)])  # 8 frames, as released
    pictures = tensor_to_pil_images(frames)
    ours = vlm.prepare_video(pictures, PROMPT, 8.0)
    # the video processor's documented steps: shortest edge to 32 (bicubic), centre crop 32x32, x/255, CLIP stats
    mean, std = np.array([0.48145466, 0.4578275, 0.40821073]), np.array([0.26862954, 0.26130258, 0.27577711])
    documented = np.stack([(np.asarray(p.resize((44, 32), 3), dtype=np.float64)[:, 6:38] / 255 - mean) / std
                           for p in pictures]).transpose(0, 3, 1, 2)[None]
    assert torch.allclose(ours["pixel_values_videos"], torch.from_numpy(documented).float(), atol=1e-5)
    reference = _video_llava_reference(folder, {"pixel_values_videos": ours["pixel_values_videos"]})
    inputs = reference(videos=[pictures], text=[_chat(reference, "video")], return_tensors="pt")
    assert torch.equal(ours["input_ids"], inputs["input_ids"])
    assert int((inputs["input_ids"] == reference.video_token_id).sum()) == 8 * (4 * 4 + 1)  # patches + CLS
    expected = _generate(model, reference.tokenizer, inputs)
    video = VideoFromComponents(VideoComponents(images=frames, frame_rate=8))
    replies, _ = vlm_caption(vlm_env.context(), vlm, None, PROMPT, MAX_NEW, video=video)
    assert replies == [expected] and expected


def _qwen3_video_patches(pictures, settings: dict):
    """Qwen3-VL's video processor, from its documented steps: size all frames together with its video
    ``smart_resize``, bicubic, x/255, normalise, pad to whole temporal patches with the last frame,
    then cut [t, 2, C, h/2, 2, 8, w/2, 2, 8] and lay out (t, h/2, w/2, 2, 2, C, 2, 8, 8)."""
    import numpy as np
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    height, width = pictures[0].height, pictures[0].width
    size = settings["size"]
    new_h, new_w = smart_resize(len(pictures), height, width, 2, 16, size["shortest_edge"], size["longest_edge"])
    mean, std = np.array(settings["image_mean"])[:, None, None], np.array(settings["image_std"])[:, None, None]
    video = np.stack([((np.asarray(p.resize((new_w, new_h), 3), dtype=np.float64).transpose(2, 0, 1) / 255) - mean)
                      / std for p in pictures])
    video = np.concatenate([video, video[-1:].repeat(-len(video) % 2, 0)])
    grid = [len(video) // 2, new_h // 8, new_w // 8]
    patches = video.reshape(grid[0], 2, 3, grid[1] // 2, 2, 8, grid[2] // 2, 2, 8).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return patches.reshape(grid[0] * grid[1] * grid[2], -1), grid


def test_qwen3_video_with_timestamps_equals_transformers(vlm_env, vlm_models_dir, stand_in_video_processor):
    import json
    from types import SimpleNamespace

    import torch
    from transformers import AutoTokenizer, Qwen2VLImageProcessorPil, Qwen3VLProcessor

    from models.video.container import VideoComponents, VideoFromComponents
    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    folder = vlm_models_dir / "vlm" / "tiny-qwen3-vl"
    settings = json.loads((folder / "video_preprocessor_config.json").read_text())
    frames = torch.cat([random_image(seed, 40, 56) for seed in range(100, 105)])  # 5 frames: 3 temporal patches
    pictures = tensor_to_pil_images(frames)
    patches, grid = _qwen3_video_patches(pictures, settings)
    vlm = vlm_env.load(vlm_loader, "tiny-qwen3-vl")
    ours = vlm.prepare_video(pictures, PROMPT, 4.0)
    assert ours["video_grid_thw"].tolist() == [grid]
    assert torch.allclose(ours["pixel_values_videos"], torch.from_numpy(patches).float(), atol=1e-5)

    timing = SimpleNamespace(fps=4.0, frames_indices=list(range(5)))
    reference = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessorPil.from_pretrained(folder),
        tokenizer=AutoTokenizer.from_pretrained(folder),
        video_processor=_StandInVideoProcessor({"pixel_values_videos": ours["pixel_values_videos"],
                                                "video_grid_thw": ours["video_grid_thw"], "video_metadata": [timing]}),
        chat_template=(folder / "chat_template.jinja").read_text())
    inputs = reference(videos=[pictures], text=[_chat(reference, "video")], return_tensors="pt")
    assert torch.equal(ours["input_ids"], inputs["input_ids"])
    assert torch.equal(ours["mm_token_type_ids"], torch.as_tensor(inputs["mm_token_type_ids"]))
    prompt_text = reference.tokenizer.decode(ours["input_ids"][0])
    assert "<0.1 seconds>" in prompt_text and "<0.6 seconds>" in prompt_text and "<1.0 seconds>" in prompt_text
    expected = _generate(_reference_model(folder), reference.tokenizer, inputs)
    video = VideoFromComponents(VideoComponents(images=frames, frame_rate=4))
    replies, _ = vlm_caption(vlm_env.context(), vlm, None, PROMPT, MAX_NEW, video=video)
    assert replies == [expected] and expected


@pytest.mark.parametrize("workflow, prefix", [("video_qa_onevision.json", "onevision_sampled"),
                                              ("video_qa_video_llava.json", "video_llava_sampled")])
def test_video_workflows_run_headless(tmp_path, vlm_models_dir, capsys, workflow, prefix):
    from models.demo.vlm_families import write_demo_video
    from tests.fixtures.vlm import run_workflow

    write_demo_video(tmp_path / "input")
    code, out = run_workflow(tmp_path, vlm_models_dir, workflow, capsys)
    assert code == 0, out
    assert "node 5: " in out and len(list((tmp_path / "output" / "video").glob(f"{prefix}_*.mp4"))) == 1
