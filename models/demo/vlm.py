"""Tiny random-weight multimodal models for the demo and the tests (LLaVA, LLaVA-NeXT, ColPali,
ColQwen2, CLIP), built from config objects and saved as ordinary transformers folders.

Everything is built offline with hand-made tokenizers (no hub, no sentencepiece), seeded, so the
same call writes the same weights. ``models.demo.command`` calls :func:`write_demo_vlm`.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any

# LLaVA 1.5's conversation format: "USER: <image>\n{question} ASSISTANT:" (images first, then text).
LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] if message['content'] is string "
    "else message['content'][0]['text'] }}{{ ' ' }}"
    "{% else %}{{ message['role'].upper() ~ ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] ~ ' ' }}{% else %}"
    "{% for item in message['content'] if item['type'] == 'image' %}{{ '<image>\\n' }}{% endfor %}"
    "{% for item in message['content'] if item['type'] == 'text' %}{{ item['text'] ~ ' ' }}{% endfor %}"
    "{% endif %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# Where each demo model lands, relative to the models folder.
DEMO_VLM_MODELS = {
    "llava": "vlm/tiny-llava",
    "llava_next": "vlm/tiny-llava-next",
    "colpali": "retrieval/tiny-colpali",
    "colqwen2": "retrieval/tiny-colqwen2",
    "clip": "clip_models/tiny-clip",
    "clip_vision": "clip_vision/tiny-clip-vision",
    "blip2_opt": "vlm/tiny-blip2-opt",  # the other families' builders are in models.demo.vlm_families
    "blip2_t5": "vlm/tiny-blip2-flan-t5",
    "qwen2_vl": "vlm/tiny-qwen2-vl",
    "qwen2_5_vl": "vlm/tiny-qwen2.5-vl",
    "qwen3_vl": "vlm/tiny-qwen3-vl",
    "fuyu": "vlm/tiny-fuyu",  # models.demo.fuyu
    "llava_onevision": "vlm/tiny-llava-onevision",
    "video_llava": "vlm/tiny-video-llava",
}
_WORD_PIECES = ("the", "a", "an", "of", "in", "on", "is", "what", "image", "page", "cat", "dog", "red", "blue",
                "photo", "text", "document", "describe", "question", "answer", "chart", "table")


def _bpe_vocab(specials: list[str], word_prefix: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Specials, printable characters, then a few whole words built by merges, so text round-trips."""
    vocab: dict[str, int] = {}
    for token in specials:
        vocab.setdefault(token, len(vocab))
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(char, len(vocab))
    if word_prefix:
        vocab.setdefault(word_prefix, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in _WORD_PIECES:
        piece = word_prefix + word if word_prefix else word
        current = piece[0]
        for char in piece[1:]:
            merged = current + char
            if merged not in vocab:
                merges.append((current, char))
                vocab[merged] = len(vocab)
            current = merged
    return vocab, merges


def _llama_tokenizer(padding_side: str = "left"):
    from transformers import LlamaTokenizer

    vocab, merges = _bpe_vocab(["<unk>", "<s>", "</s>", "<pad>"], "\u2581")
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges, pad_token="<pad>", padding_side=padding_side)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    return tokenizer


def _tiny_llava_configs(tokenizer, vocab_size: int) -> tuple:
    from transformers import CLIPVisionConfig, LlamaConfig

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, projection_dim=32)
    text = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=vocab_size, max_position_embeddings=512,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    return vision, text


def _clip_image_processor(size: int = 32):
    from transformers import CLIPImageProcessorPil  # the torchvision-free variant; same outputs

    return CLIPImageProcessorPil(size={"shortest_edge": size}, crop_size={"height": size, "width": size})


def build_tiny_llava(next_gen: bool = False):
    """(model, processor) of a tiny LLaVA 1.5, or LLaVA-NeXT with AnyRes tiling."""
    import torch
    from transformers import (LlavaConfig, LlavaForConditionalGeneration, LlavaNextConfig,
                              LlavaNextForConditionalGeneration, LlavaNextProcessor, LlavaProcessor)

    tokenizer = _llama_tokenizer()
    image_token_id = tokenizer.convert_tokens_to_ids("<image>")
    vision, text = _tiny_llava_configs(tokenizer, len(tokenizer))
    torch.manual_seed(1 if next_gen else 0)
    if next_gen:
        pinpoints = [[32, 32], [32, 64], [64, 32], [64, 64]]
        image_processor = _llava_next_image_processor(pinpoints)
        config = LlavaNextConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                                 vision_feature_layer=-2, image_grid_pinpoints=pinpoints, image_seq_length=16)
        model = LlavaNextForConditionalGeneration(config)
        processor = LlavaNextProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=8,
                                       num_additional_image_tokens=1, vision_feature_select_strategy="default",
                                       chat_template=LLAVA_CHAT_TEMPLATE)
    else:
        config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=image_token_id,
                             vision_feature_layer=-2, image_seq_length=16)
        model = LlavaForConditionalGeneration(config)
        processor = LlavaProcessor(image_processor=_clip_image_processor(), tokenizer=tokenizer, patch_size=8,
                                   num_additional_image_tokens=1, vision_feature_select_strategy="default",
                                   chat_template=LLAVA_CHAT_TEMPLATE)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), processor


def _llava_next_image_processor(pinpoints: list[list[int]]):
    from transformers import LlavaNextImageProcessorPil

    return LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                      image_grid_pinpoints=pinpoints)


def build_tiny_colpali():
    import torch
    from transformers import (ColPaliConfig, ColPaliForRetrieval, ColPaliProcessor, GemmaConfig, GemmaTokenizer,
                              PaliGemmaConfig, SiglipImageProcessorPil, SiglipVisionConfig)

    vocab, merges = _bpe_vocab(["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"], "\u2581")
    tokenizer = GemmaTokenizer(vocab=vocab, merges=merges, padding_side="right")
    image_processor = SiglipImageProcessorPil(size={"height": 32, "width": 32}, image_seq_length=16)
    processor = ColPaliProcessor(image_processor=image_processor, tokenizer=tokenizer)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                image_size=32, patch_size=8, vision_use_head=False, projection_dim=32)
    text = GemmaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=1, head_dim=8, vocab_size=len(processor.tokenizer),
                       max_position_embeddings=512)
    vlm = PaliGemmaConfig(vision_config=vision, text_config=text, projection_dim=32, hidden_size=32,
                          image_token_index=processor.tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(2)
    model = ColPaliForRetrieval(ColPaliConfig(vlm_config=vlm, embedding_dim=16))
    return model.eval(), processor


def build_tiny_colqwen2():
    import torch
    from transformers import (ColQwen2Config, ColQwen2ForRetrieval, ColQwen2Processor, Qwen2Tokenizer,
                              Qwen2VLConfig, Qwen2VLImageProcessorPil)

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]
    vocab, merges = _bpe_vocab(specials, "")
    vocab.setdefault("\u0120", len(vocab))  # byte-level space
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, padding_side="right")
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    image_processor = Qwen2VLImageProcessorPil(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=8,
                                               merge_size=2, temporal_patch_size=2)
    processor = ColQwen2Processor(image_processor=image_processor, tokenizer=tokenizer)
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in specials}
    vlm = Qwen2VLConfig(
        text_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                     "num_key_value_heads": 2, "vocab_size": len(tokenizer), "max_position_embeddings": 512,
                     "bos_token_id": None, "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"],
                     "rope_scaling": {"type": "mrope", "mrope_section": [1, 1, 2]}},
        vision_config={"depth": 2, "embed_dim": 32, "hidden_size": 32, "num_heads": 4, "patch_size": 8,
                       "spatial_merge_size": 2, "temporal_patch_size": 2, "mlp_ratio": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(3)
    model = ColQwen2ForRetrieval(ColQwen2Config(vlm_config=vlm, embedding_dim=16))
    return model.eval(), processor


def build_tiny_clip():
    import torch
    from transformers import CLIPConfig, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab, merges = _bpe_vocab(["<|startoftext|>", "<|endoftext|>"], "")
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(char + "</w>", len(vocab))  # CLIP marks a word's last piece with </w>
    merges = []  # words stay character-level; enough for a random-weight model
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "vocab_size": len(tokenizer), "max_position_embeddings": 77, "projection_dim": 16,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id}
    vision = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
              "image_size": 32, "patch_size": 8, "projection_dim": 16}
    torch.manual_seed(4)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    processor = CLIPProcessor(image_processor=_clip_image_processor(), tokenizer=tokenizer)
    return model.eval(), processor


def _save(model, processor, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)


def write_demo_vlm_inputs(input_dir: str | Path, force: bool = False) -> list[Path]:
    """Pictures for the example workflows: ``input/dataset/`` (three shapes, for captioning and
    CLIP filtering), ``input/pages/`` (three document pages, for visual RAG) and
    ``input/videos/moving_square.mp4`` (video question answering)."""
    from PIL import Image, ImageDraw

    input_dir = Path(input_dir)
    written: list[Path] = []

    def save(picture: Any, relative: str) -> None:
        target = input_dir / relative
        if target.exists() and not force:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        picture.save(target)
        written.append(target)

    shapes = [("red_circle", "ellipse", (220, 40, 40)), ("blue_square", "rectangle", (40, 60, 220)),
              ("green_triangle", "polygon", (40, 180, 60))]
    for name, shape, color in shapes:
        picture = Image.new("RGB", (64, 48), (245, 240, 230))
        draw = ImageDraw.Draw(picture)
        if shape == "polygon":
            draw.polygon([(32, 6), (58, 42), (6, 42)], fill=color)
        else:
            getattr(draw, shape)((14, 6, 50, 42), fill=color)
        save(picture, f"dataset/{name}.png")
    for number, kind in enumerate(("text", "chart", "table")):
        page = Image.new("RGB", (72, 96), "white")
        draw = ImageDraw.Draw(page)
        draw.text((4, 3), f"Page {number + 1}: {kind}", fill="black")
        if kind == "chart":
            for bar, height in enumerate((20, 45, 30, 60)):
                draw.rectangle((8 + bar * 15, 90 - height, 18 + bar * 15, 90), fill=(50, 90, 200))
        elif kind == "table":
            for line in range(6):
                draw.line((4, 20 + line * 12, 68, 20 + line * 12), fill="black")
            draw.line((36, 20, 36, 80), fill="black")
        else:
            for line in range(8):
                draw.line((4, 20 + line * 9, 68 - (line % 3) * 10, 20 + line * 9), fill=(90, 90, 90), width=2)
        save(page, f"pages/page_{number + 1}_{kind}.png")
    from models.demo.vlm_families import write_demo_video

    written.extend(write_demo_video(input_dir, force))
    return written


def write_demo_vlm(models_dir: str | Path, force: bool = False, input_dir: str | Path | None = None) -> list[Path]:
    """Write every tiny multimodal demo model under ``models_dir``, and the example workflows'
    pictures into ``input_dir`` (by default ``input/`` next to ``models/``); returns what was written."""
    root = Path(models_dir)
    from models.demo.vlm_families import FAMILY_BUILDERS

    builders = {"llava": lambda: build_tiny_llava(False), "llava_next": lambda: build_tiny_llava(True),
                "colpali": build_tiny_colpali, "colqwen2": build_tiny_colqwen2, "clip": build_tiny_clip,
                **FAMILY_BUILDERS}
    written: list[Path] = write_demo_vlm_inputs(Path(input_dir) if input_dir else root.parent / "input", force)
    for key, builder in builders.items():
        folder = root / DEMO_VLM_MODELS[key]
        if (folder / "config.json").is_file() and not force:
            continue
        model, processor = builder()
        _save(model, processor, folder)
        written.append(folder)
        if key == "clip":
            written.extend(_write_clip_vision(model, processor, root / DEMO_VLM_MODELS["clip_vision"], force))
    return written


def _write_clip_vision(clip_model, processor, folder: Path, force: bool) -> list[Path]:
    """The vision tower of the tiny CLIP as a ``clip_vision`` folder (for CLIPVisionEncode)."""
    from transformers import CLIPVisionModelWithProjection

    if (folder / "config.json").is_file() and not force:
        return []
    vision = CLIPVisionModelWithProjection(clip_model.config.vision_config)
    vision.vision_model.load_state_dict(clip_model.vision_model.state_dict())
    vision.visual_projection.load_state_dict(clip_model.visual_projection.state_dict())
    folder.mkdir(parents=True, exist_ok=True)
    vision.eval().save_pretrained(folder, safe_serialization=True)
    processor.image_processor.save_pretrained(folder)
    return [folder]
