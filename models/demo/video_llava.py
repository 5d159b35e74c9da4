"""A tiny random-weight Video-LLaVA (CLIP towers of 32x32 pictures in 8-pixel patches, a LLaMA
language model), built from config objects with a hand-made tokenizer (no hub), seeded."""
from __future__ import annotations

from typing import Any

from models.demo.vlm import _llama_tokenizer

# Video-LLaVA's conversation format: "USER: <video>\n{question} ASSISTANT:" (media first, then text).
VIDEO_LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() ~ ': ' }}"
    "{% if message['content'] is string %}{{ message['content'] ~ ' ' }}{% else %}"
    "{% for item in message['content'] if item['type'] == 'image' %}{{ '<image>\\n' }}{% endfor %}"
    "{% for item in message['content'] if item['type'] == 'video' %}{{ '<video>\\n' }}{% endfor %}"
    "{% for item in message['content'] if item['type'] == 'text' %}{{ item['text'] ~ ' ' }}{% endfor %}"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def build_tiny_video_llava() -> tuple[Any, Any]:
    import torch
    from transformers import VideoLlavaConfig, VideoLlavaForConditionalGeneration, VideoLlavaImageProcessor

    from models.vision_language.video_llava import VideoLlavaInputs

    tokenizer = _llama_tokenizer()
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>", "<video>"]})
    vision = {"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 4, "image_size": 32, "patch_size": 8, "projection_dim": 32}
    text = {"model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": len(tokenizer),
            "max_position_embeddings": 1024, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    config = VideoLlavaConfig(vision_config=vision, text_config=text,
                              image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                              video_token_index=tokenizer.convert_tokens_to_ids("<video>"), vision_feature_layer=-2,
                              vision_feature_select_strategy="default", image_seq_length=16, video_seq_length=8 * 17)
    torch.manual_seed(16)
    model = VideoLlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    image_processor = VideoLlavaImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = VideoLlavaInputs(tokenizer, image_processor, VIDEO_LLAVA_CHAT_TEMPLATE, patch_size=8)
    return model.eval(), processor
