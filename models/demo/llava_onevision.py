"""A tiny random-weight LLaVA-OneVision (SigLIP 32x32 views of 8-pixel patches, a Qwen2 language
model), built from config objects with a hand-made tokenizer (no hub), seeded."""
from __future__ import annotations

from typing import Any

from models.demo.vlm import _bpe_vocab

# LLaVA-OneVision's conversation format: a turn opens with "<|im_start|>role ", its images, then its
# videos, then each text on a new line.
ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] if item['type'] == 'image' %}<image>{% endfor %}"
    "{% for item in message['content'] if item['type'] == 'video' %}<video>{% endfor %}"
    "{% for item in message['content'] if item['type'] == 'text' %}{{ '\\n' ~ item['text'] }}{% endfor %}"
    "{% endif %}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
ONEVISION_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64], [32, 96], [96, 32]]


def build_tiny_llava_onevision() -> tuple[Any, Any]:
    import torch
    from transformers import (LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration,
                              LlavaOnevisionImageProcessorPil, Qwen2Tokenizer)

    from models.vision_language.llava_onevision import OnevisionProcessor

    vocab, merges = _bpe_vocab(ONEVISION_SPECIALS, "")
    for byte_char in ("\u0120", "\u010a"):  # byte-level space and newline
        vocab.setdefault(byte_char, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, padding_side="left")
    tokenizer.add_special_tokens({"additional_special_tokens": ONEVISION_SPECIALS[1:]})
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in ONEVISION_SPECIALS}
    image_processor = LlavaOnevisionImageProcessorPil(size={"height": 32, "width": 32}, image_grid_pinpoints=PINPOINTS,
                                                      image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    vision = {"model_type": "siglip_vision_model", "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 32, "patch_size": 8,
              "vision_use_head": False}
    text = {"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
            "max_position_embeddings": 1024, "bos_token_id": None, "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"]}
    # anyres_max_2: a picture needing more than two views' worth of tile features is shrunk (as
    # anyres_max_9 does for large pictures in the real models), so the tests reach that branch
    config = LlavaOnevisionConfig(vision_config=vision, text_config=text, image_token_index=ids["<image>"],
                                  video_token_index=ids["<video>"], vision_feature_layer=-1,
                                  vision_feature_select_strategy="full", image_grid_pinpoints=PINPOINTS,
                                  vision_aspect_ratio="anyres_max_2")
    torch.manual_seed(15)
    model = LlavaOnevisionForConditionalGeneration(config)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    video_settings = {"video_processor_type": "LlavaOnevisionVideoProcessor", "size": {"height": 32, "width": 32},
                      "resample": 3, "rescale_factor": 1 / 255, "image_mean": [0.5, 0.5, 0.5],
                      "image_std": [0.5, 0.5, 0.5], "do_resize": True, "do_rescale": True, "do_normalize": True,
                      "do_convert_rgb": True}
    processor = OnevisionProcessor(tokenizer, image_processor, ONEVISION_CHAT_TEMPLATE, num_image_tokens=16,
                                   vision_feature_select_strategy="full", vision_aspect_ratio="anyres_max_2",
                                   video_settings=video_settings)
    return model.eval(), processor
