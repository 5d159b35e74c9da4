"""CLIP: zero-shot and score fidelity to CLIPModel + CLIPProcessor, pair filtering, the vision tower
(folder and single file), and the clip_filter / caption_folder workflows run headless."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.vlm import random_image

LABELS = ["a photo of a cat", "a photo of a dog", "a document page"]


def _direct_clip(vlm_models_dir):
    from transformers import CLIPModel, CLIPProcessor

    folder = vlm_models_dir / "clip_models" / "tiny-clip"
    return CLIPModel.from_pretrained(folder).eval(), CLIPProcessor.from_pretrained(folder)


def test_zero_shot_and_score_match_clip_model(vlm_env, vlm_models_dir):
    import torch

    from models.vision_language.images import tensor_to_pil_images
    from nodes.understanding.clip_score import clip_model_loader, clip_score, clip_zero_shot

    clip = vlm_env.load(clip_model_loader, "tiny-clip")
    batch = torch.cat([random_image(1, 32, 32), random_image(2, 32, 32)])
    probabilities, tops = clip_zero_shot(clip, batch, "\n".join(LABELS))

    model, processor = _direct_clip(vlm_models_dir)
    with torch.no_grad():
        output = model(**processor(text=LABELS, images=tensor_to_pil_images(batch), return_tensors="pt",
                                   padding=True))
    expected = output.logits_per_image.softmax(dim=-1)
    for row, report in enumerate(probabilities):
        got = json.loads(report)
        assert list(got) == sorted(LABELS, key=lambda label: -float(expected[row, LABELS.index(label)]))
        assert [got[label] for label in LABELS] == pytest.approx(expected[row].tolist(), abs=1e-5)
        assert tops[row] == LABELS[int(expected[row].argmax())]

    cosine = clip_score(clip, batch, LABELS[0])[0]
    image_embeds = torch.nn.functional.normalize(output.image_embeds, dim=-1)
    text_embeds = torch.nn.functional.normalize(output.text_embeds, dim=-1)
    assert cosine == pytest.approx((image_embeds @ text_embeds[0]).tolist(), abs=1e-5)
    one_line = clip_zero_shot(clip, batch[:1], ", ".join(LABELS))[0][0]
    assert json.loads(one_line) == json.loads(probabilities[0])  # comma-separated labels work too


def test_score_filter_keeps_pairs_at_or_above_threshold(vlm_env):
    from nodes.understanding.clip_score import clip_model_loader, clip_score, clip_score_filter

    clip = vlm_env.load(clip_model_loader, "tiny-clip")
    images = [random_image(i, 32, 40) for i in range(4)]
    texts = ["a cat", "a dog", "red", "a table"]
    scores = [clip_score(clip, image, text)[0][0] for image, text in zip(images, texts)]
    assert clip.pair_cosine(images, texts) == pytest.approx(scores, abs=1e-5)
    threshold = sorted(clip.pair_cosine(images, texts))[1]  # one pair below, one exactly at the threshold
    kept_images, kept_texts, report = clip_score_filter(vlm_env.context(), [clip], images, texts, [threshold])
    report = json.loads(report)
    expected = [i for i, s in enumerate(scores) if s >= threshold]
    assert len(expected) == 3 and report["kept"] == 3 and report["total"] == 4
    assert kept_texts == [texts[i] for i in expected]
    assert all(k.shape == images[i].shape for k, i in zip(kept_images, expected))
    assert [p["score"] for p in report["pairs"]] == pytest.approx(scores, abs=1e-5)

    events: list = []
    _, repeated, _ = clip_score_filter(vlm_env.context(events), [clip], images[:2], ["a cat"], [-1.0])
    assert repeated == ["a cat", "a cat"]  # the last text repeats for the remaining images


def test_clip_vision_encode_folder_and_single_file(vlm_env, vlm_models_dir):
    import torch
    from safetensors.torch import save_file
    from transformers import AutoImageProcessor, CLIPVisionModelWithProjection

    from models.vision_language.images import tensor_to_pil_images
    from nodes.control.clip_vision import clip_vision_encode, clip_vision_loader

    vision = vlm_env.load(clip_vision_loader, "tiny-clip-vision")
    assert hasattr(vision, "model") and hasattr(vision, "processor")
    square = random_image(3, 32, 32)
    encoded = clip_vision_encode(vision, square, "center")[0]
    folder = vlm_models_dir / "clip_vision" / "tiny-clip-vision"
    reference_model = CLIPVisionModelWithProjection.from_pretrained(folder).eval()
    with torch.no_grad():
        pixels = AutoImageProcessor.from_pretrained(folder)(images=tensor_to_pil_images(square), return_tensors="pt")
        reference = reference_model(**pixels, output_hidden_states=True)
    assert torch.allclose(encoded.image_embeds, reference.image_embeds, atol=1e-5)
    assert torch.allclose(encoded.penultimate_hidden_states, reference.hidden_states[-2], atol=1e-5)
    assert torch.allclose(encoded.pixel_values, pixels["pixel_values"])
    assert encoded.last_hidden_state.shape == (1, 17, 32)

    wide = random_image(4, 32, 64)
    center = clip_vision_encode(vision, wide, "center")[0]
    squashed = clip_vision_encode(vision, wide, "none")[0]
    assert not torch.allclose(center.pixel_values, squashed.pixel_values)

    single = vlm_env.base / "cv" / "tiny-clip-vision.safetensors"  # no config: inferred from shapes
    single.parent.mkdir()
    save_file({k: v.contiguous() for k, v in reference_model.state_dict().items()}, str(single))
    vlm_env.services.paths.add_model_folder("clip_vision", single.parent)
    from_file = vlm_env.load(clip_vision_loader, single.name)
    assert from_file.model.config.hidden_size == 32 and from_file.model.config.projection_dim == 16
    assert clip_vision_encode(from_file, square, "center")[0].image_embeds.shape == (1, 16)


def test_bad_image_files_and_empty_folders(vlm_env):
    from models.vision_language.images import tensor_to_pil_images
    from nodes.image.dataset import load_images_from_folder

    folder = vlm_env.services.paths.input_dir / "mixed"
    folder.mkdir()
    with pytest.raises(ValueError, match="no image files"):
        load_images_from_folder(vlm_env.context(), "mixed")
    (folder / "readme.txt").write_text("not an image")
    (folder / "broken.png").write_bytes(b"this is not a png")
    for name, seed in (("c.png", 1), ("a.png", 2), ("b.jpg", 3)):
        tensor_to_pil_images(random_image(seed))[0].save(folder / name)
    events: list = []
    images, names, count = load_images_from_folder(vlm_env.context(events), "mixed")
    assert names == ["a.png", "b.jpg", "c.png"] and count == 3  # sorted, image files only, broken one skipped
    assert any("broken.png" in e.message for e in events if e.type == "warning")
    _, limited, _ = load_images_from_folder(vlm_env.context(), "mixed", limit=1, start_index=1)
    assert limited == ["b.jpg"]
    (folder / "broken.png").unlink()
    for name in names:
        (folder / name).unlink()
    (folder / "only.png").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="could be read"):
        load_images_from_folder(vlm_env.context(), "mixed")


def _dataset(base, count: int = 3) -> None:
    from tests.fixtures.vlm import save_png

    for index in range(count):
        save_png(random_image(50 + index, 40 + 8 * index, 48), base / "input" / "dataset" / f"img_{index}.png")


def test_clip_filter_and_caption_folder_workflows_run_headless(tmp_path, vlm_models_dir, capsys):
    from tests.fixtures.vlm import run_workflow

    _dataset(tmp_path)
    code, out = run_workflow(tmp_path, vlm_models_dir, "clip_filter.json", capsys)
    assert code == 0, out
    report = json.loads(next(line for line in out.splitlines() if line.startswith("node 7: "))[len("node 7: "):])
    assert report["total"] == 3 and report["threshold"] == 0.28
    assert report["kept"] == sum(p["score"] >= 0.28 for p in report["pairs"])

    code, out = run_workflow(tmp_path, vlm_models_dir, "caption_folder.json", capsys)
    assert code == 0, out
    captions = sorted((tmp_path / "output" / "captions").glob("img_*.txt"))
    assert [p.name for p in captions] == ["img_0.txt", "img_1.txt", "img_2.txt"]
    manifest = next((tmp_path / "output" / "captions").glob("manifest_*.jsonl")).read_text().splitlines()
    assert [json.loads(line)["name"] for line in manifest] == ["img_0.png", "img_1.png", "img_2.png"]
    assert [json.loads(line)["text"] for line in manifest] == [p.read_text() for p in captions]


def test_siglip_single_file_with_config_metadata_matches_its_folder(vlm_env):
    import json as json_module

    import torch
    from safetensors.torch import save_file
    from transformers import SiglipImageProcessorPil, SiglipVisionConfig, SiglipVisionModel

    from nodes.control.clip_vision import clip_vision_encode, clip_vision_loader

    torch.manual_seed(0)
    config = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                image_size=32, patch_size=8)
    model = SiglipVisionModel(config).eval()
    folder = vlm_env.base / "sig" / "siglip-folder"
    model.save_pretrained(folder)
    SiglipImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    single = folder.parent / "siglip.safetensors"  # tower keys without the vision_model. prefix
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(single),
              metadata={"config": json_module.dumps(config.to_dict())})
    vlm_env.services.paths.add_model_folder("clip_vision", folder.parent)
    image = random_image(9, 40, 60)
    from_folder = clip_vision_encode(vlm_env.load(clip_vision_loader, "siglip-folder"), image, "center")[0]
    from_file = clip_vision_encode(vlm_env.load(clip_vision_loader, "siglip.safetensors"), image, "center")[0]
    assert from_folder.image_embeds.shape == (1, 32)  # pooled output: SigLIP has no projection
    assert torch.allclose(from_folder.image_embeds, from_file.image_embeds, atol=1e-6)
    assert torch.allclose(from_folder.penultimate_hidden_states, from_file.penultimate_hidden_states, atol=1e-6)
