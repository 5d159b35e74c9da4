"""Fuyu: Plexus's inputs against transformers' ``FuyuProcessor`` and against the documented layout;
captions against ``model.generate`` (greedy, token for token), batched and one at a time; streaming
and interrupt through the real runner."""
from __future__ import annotations

import pytest

from tests.fixtures.vlm import random_image

MAX_NEW = 8
PROMPT = "Generate a coco-style caption."
SIZES = [(40, 56), (64, 32), (100, 30), (27, 61)]  # fits; tall; scaled down; not patch multiples


def _reference_processor(folder):
    """transformers' ``FuyuProcessor`` on the folder's tokenizer and image processor.

    Its torchvision-free image processor patchifies with numpy while the processor hands it torch
    tensors (transformers 5.24): the image processor here converts, and does nothing else."""
    import torch
    from transformers import FuyuImageProcessorPil, FuyuProcessor
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    class TensorPatchify(FuyuImageProcessorPil):
        def patchify_image(self, image, patch_size=None):
            return torch.from_numpy(super().patchify_image(image.numpy(), patch_size))

    return FuyuProcessor(image_processor=TensorPatchify.from_pretrained(folder),
                         tokenizer=TokenizersBackend.from_pretrained(folder))


@pytest.fixture(scope="module")
def fuyu_reference(vlm_models_dir):
    from transformers import FuyuForCausalLM

    folder = vlm_models_dir / "vlm" / "tiny-fuyu"
    return FuyuForCausalLM.from_pretrained(folder).eval(), _reference_processor(folder)


def _pictures():
    from models.vision_language.images import tensor_to_pil_images

    return [tensor_to_pil_images(random_image(seed, height, width))[0] for seed, (height, width) in enumerate(SIZES, 70)]


def test_inputs_equal_fuyu_processor_and_the_documented_layout(vlm_env, fuyu_reference):
    import numpy as np
    import torch

    from nodes.understanding.vlm import vlm_loader

    _, processor = fuyu_reference
    vlm = vlm_env.load(vlm_loader, "tiny-fuyu")
    pictures = _pictures()
    ours = vlm.prepare(pictures, PROMPT)
    expected = processor(images=pictures, text=[PROMPT] * len(pictures), return_tensors="pt",
                         return_legacy_image_output=False)
    assert set(ours) == {"input_ids", "attention_mask", "pixel_values"}
    for key in ours:
        assert torch.equal(ours[key], expected[key]), key

    # the layout itself, for the first picture (40x56, 8-pixel patches, no resize): 5 rows of 7 patches
    tokenizer = vlm.tokenizer
    speaker, newline = tokenizer.convert_tokens_to_ids(["|SPEAKER|", "|NEWLINE|"])
    single = vlm.prepare(pictures[0], PROMPT)
    ids = single["input_ids"][0].tolist()
    prompt_ids = tokenizer(PROMPT + "<0x04>", add_special_tokens=False)["input_ids"]
    assert ids == ([speaker] * 7 + [newline]) * 5 + [tokenizer.bos_token_id] + prompt_ids
    assert tokenizer.convert_ids_to_tokens(prompt_ids[-1]) == "<0x04>"
    pixels = np.asarray(pictures[0], dtype=np.float32) / 255.0 * 2.0 - 1.0  # rescale, normalise (mean=std=0.5)
    rows = [pixels[r * 8:(r + 1) * 8, c * 8:(c + 1) * 8].reshape(-1) for r in range(5) for c in range(7)]
    assert np.allclose(single["pixel_values"].numpy(), np.stack(rows), atol=1e-6)


def test_captions_equal_generate_batched_and_one_at_a_time(vlm_env, fuyu_reference):
    from nodes.understanding.vlm import vlm_caption, vlm_loader

    model, processor = fuyu_reference
    pictures = _pictures()
    expected = []
    for picture in pictures:
        inputs = processor(images=[picture], text=[PROMPT], return_tensors="pt", return_legacy_image_output=False)
        output = model.generate(**inputs, max_new_tokens=MAX_NEW, do_sample=False)
        expected.append(processor.tokenizer.decode(output[0, inputs["input_ids"].shape[1]:],
                                                   skip_special_tokens=True).strip())
    assert all(expected) and len(set(expected)) > 1

    vlm = vlm_env.load(vlm_loader, "tiny-fuyu")
    assert vlm.family.name == "fuyu"
    images = [random_image(seed, height, width) for seed, (height, width) in enumerate(SIZES, 70)]
    assert vlm_caption(vlm_env.context(), vlm, images, PROMPT, MAX_NEW, batch_size=4)[0] == expected
    events: list = []
    assert vlm_caption(vlm_env.context(events), vlm, images, PROMPT, MAX_NEW, batch_size=1)[0] == expected
    streamed = "".join(e.text for e in events if e.type == "text").split("\n")
    assert [line.strip() for line in streamed] == expected  # one streamed line per reply
    with pytest.raises(ValueError, match="one image per prompt"):
        vlm.prepare_group(pictures[:2], PROMPT)
    with pytest.raises(ValueError, match="does not take videos"):
        vlm.prepare_video(pictures[:1], PROMPT, 1.0)


def test_continuation_scores_follow_the_beginning_of_answer(vlm_env):
    import torch

    from nodes.understanding.vlm import vlm_loader

    vlm = vlm_env.load(vlm_loader, "tiny-fuyu")
    picture = _pictures()[0]
    scores = vlm.score_continuations(picture, PROMPT, ["a cat", "the red dog", "a cat"])
    assert scores[0] == pytest.approx(scores[2]) and scores[0] != pytest.approx(scores[1]) and max(scores) < 0
    inputs = vlm.prepare(picture, PROMPT)
    with torch.inference_mode():  # the first token's log-probability, from one forward pass on the prompt
        logprobs = torch.log_softmax(vlm.model(**inputs).logits[0, -1], dim=-1)
    cat = vlm.tokenizer.convert_tokens_to_ids("\u2581cat")  # " cat" after the answer token is one piece
    assert vlm.score_continuations(picture, PROMPT, [" cat"])[0] == pytest.approx(float(logprobs[cat]), abs=1e-5)


def test_interrupt_stops_fuyu_within_one_token(vlm_env):
    from tests.fixtures.vlm import save_png

    save_png(random_image(71, 48, 40), vlm_env.services.paths.input_dir / "imgs" / "a.png")
    seen: list = []

    def interrupt_after_second_token(event, env):
        if event.type == "text":
            seen.append(event)
            if len(seen) == 2:
                env.runner.interrupt.set()

    vlm_env.on_event = interrupt_after_second_token
    record = vlm_env.run({
        "1": {"class_type": "VLMLoader", "inputs": {"vlm_name": "tiny-fuyu"}},
        "2": {"class_type": "LoadImagesFromFolder", "inputs": {"folder": "imgs", "limit": 0, "start_index": 0,
                                                               "recursive": False}},
        "3": {"class_type": "VLMCaption", "inputs": {"vlm": ["1", 0], "image": ["2", 0], "prompt": PROMPT,
                                                     "max_new_tokens": 40, "temperature": 0.0, "top_p": 1.0,
                                                     "seed": 0}},
        "4": {"class_type": "PreviewText", "inputs": {"text": ["3", 0]}}})
    vlm_env.runner.interrupt.clear()
    assert record.result.status == "interrupted"
    assert len(seen) == 2  # no token after the one that saw the interrupt
