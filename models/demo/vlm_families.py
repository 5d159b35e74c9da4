"""Tiny random-weight BLIP-2 (OPT and Flan-T5), Qwen2-VL, Qwen2.5-VL and Qwen3-VL models
(Fuyu's builder is in ``models.demo.fuyu``), built from config objects with hand-made tokenizers (no hub, no sentencepiece), seeded.

``models.demo.vlm.write_demo_vlm`` writes them beside the LLaVA models."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from models.demo.fuyu import build_tiny_fuyu
from models.demo.llava_onevision import build_tiny_llava_onevision
from models.demo.video_llava import build_tiny_video_llava
from models.demo.vlm import _bpe_vocab

# Qwen2-VL's conversation format (system turn omitted): images and videos as vision spans.
QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif item['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                 "<|image_pad|>", "<|video_pad|>", "<|object_ref_start|>", "<|object_ref_end|>",
                 "<|box_start|>", "<|box_end|>"]
_VISION = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
           "image_size": 32, "patch_size": 8}


def build_tiny_blip2(language_model: str = "opt") -> tuple[Any, Any]:
    """BLIP-2 with 4 learned queries, and an OPT (``"opt"``) or T5 (``"t5"``) language model."""
    import torch
    from transformers import (BlipImageProcessorPil, Blip2Config, Blip2ForConditionalGeneration, Blip2Processor,
                              GPT2Tokenizer, T5Tokenizer)

    if language_model == "opt":
        vocab, merges = _bpe_vocab(["<pad>", "</s>", "<unk>"], "\u0120")
        tokenizer = GPT2Tokenizer(vocab=vocab, merges=merges, pad_token="<pad>", bos_token="</s>", eos_token="</s>",
                                  unk_token="<unk>", padding_side="left")
    else:
        vocab, _ = _bpe_vocab(["<pad>", "</s>", "<unk>"], "\u2581")
        tokenizer = T5Tokenizer(vocab=[(piece, -float(index)) for index, piece in enumerate(vocab)], extra_ids=0,
                                padding_side="left")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    processor = Blip2Processor(image_processor=BlipImageProcessorPil(size={"height": 32, "width": 32}),
                               tokenizer=tokenizer, num_query_tokens=4)
    qformer = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
               "encoder_hidden_size": 32, "vocab_size": 64, "max_position_embeddings": 64}
    if language_model == "opt":
        text = {"model_type": "opt", "hidden_size": 32, "ffn_dim": 64, "num_hidden_layers": 2,
                "num_attention_heads": 4, "vocab_size": len(tokenizer), "max_position_embeddings": 512,
                "word_embed_proj_dim": 32, "bos_token_id": tokenizer.bos_token_id,
                "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    else:
        text = {"model_type": "t5", "d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_decoder_layers": 2,
                "num_heads": 4, "vocab_size": len(tokenizer), "feed_forward_proj": "gated-gelu",
                "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                "decoder_start_token_id": tokenizer.pad_token_id, "tie_word_embeddings": False}
    config = Blip2Config(vision_config=_VISION, qformer_config=qformer, text_config=text, num_query_tokens=4,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"))
    torch.manual_seed(10 if language_model == "opt" else 11)
    model = Blip2ForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if language_model == "t5":  # random T5 weights favour ending at once: a zero end-token row keeps replies
        with torch.no_grad():
            model.get_output_embeddings().weight[tokenizer.eos_token_id] = 0.0
    return model.eval(), processor


def build_tiny_qwen_vl(version: str = "2") -> tuple[Any, Any]:
    """Qwen2-VL (``"2"``), Qwen2.5-VL (``"2.5"``) or Qwen3-VL (``"3"``): 8-pixel patches merged 2x2,
    pictures resized to between 32x32 and 64x64 pixels."""
    import torch
    import transformers
    from transformers import Qwen2Tokenizer, Qwen2VLImageProcessorPil

    from models.vision_language.qwen_vl import QwenVLProcessor

    vocab, merges = _bpe_vocab(QWEN_SPECIALS, "")
    for byte_char in ("\u0120", "\u010a"):  # byte-level space and newline
        vocab.setdefault(byte_char, len(vocab))
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, padding_side="left")
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_SPECIALS[1:]})
    ids = {name: tokenizer.convert_tokens_to_ids(name) for name in QWEN_SPECIALS}
    image_processor = Qwen2VLImageProcessorPil(min_pixels=32 * 32, max_pixels=64 * 64, patch_size=8, merge_size=2,
                                               temporal_patch_size=2)
    text = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": len(tokenizer), "max_position_embeddings": 512,
            "bos_token_id": None, "eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]}
    vision = {"depth": 2, "hidden_size": 32, "num_heads": 4, "patch_size": 8, "spatial_merge_size": 2,
              "temporal_patch_size": 2}
    if version == "2":
        class_name, config_name = "Qwen2VLForConditionalGeneration", "Qwen2VLConfig"
        text["rope_scaling"] = {"type": "mrope", "mrope_section": [1, 1, 2]}
        vision.update(embed_dim=32, mlp_ratio=2)
    elif version == "2.5":
        class_name, config_name = "Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLConfig"
        text["rope_scaling"] = {"type": "mrope", "mrope_section": [1, 1, 2]}
        vision.update(intermediate_size=64, out_hidden_size=32, window_size=32, fullatt_block_indexes=[1])
    else:  # Qwen3-VL: DeepStack adds the features of vision layers 0 and 1 into the first LM layers
        class_name, config_name = "Qwen3VLForConditionalGeneration", "Qwen3VLConfig"
        text.update(head_dim=8, rope_scaling={"rope_type": "default", "mrope_section": [1, 1, 2],
                                              "mrope_interleaved": True})
        vision.update(intermediate_size=64, out_hidden_size=32, num_position_embeddings=64,
                      deepstack_visual_indexes=[0, 1])
    config = getattr(transformers, config_name)(
        text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed({"2": 12, "2.5": 13}.get(version, 14))
    model = getattr(transformers, class_name)(config)
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    # Qwen3-VL sizes videos with its own pixel budget (counting frames) and statistics
    video_settings = {"video_processor_type": "Qwen3VLVideoProcessor", "patch_size": 8, "merge_size": 2,
                      "temporal_patch_size": 2, "size": {"shortest_edge": 2 * 32 * 32, "longest_edge": 4 * 64 * 64},
                      "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]} if version == "3" else None
    return model.eval(), QwenVLProcessor(tokenizer, image_processor, QWEN_CHAT_TEMPLATE, video_settings)


FAMILY_BUILDERS = {
    "blip2_opt": lambda: build_tiny_blip2("opt"),
    "blip2_t5": lambda: build_tiny_blip2("t5"),
    "qwen2_vl": lambda: build_tiny_qwen_vl("2"),
    "qwen2_5_vl": lambda: build_tiny_qwen_vl("2.5"),
    "qwen3_vl": lambda: build_tiny_qwen_vl("3"),
    "fuyu": build_tiny_fuyu,
    "llava_onevision": build_tiny_llava_onevision,
    "video_llava": build_tiny_video_llava,
}


def write_demo_video(input_dir: Path, force: bool = False) -> list[Path]:
    """``input/videos/moving_square.mp4``: 16 frames (64x48, 8 fps) of a red square crossing a
    light background, for the video question-answering workflow."""
    import torch

    from models.video.container import write_video

    target = Path(input_dir) / "videos" / "moving_square.mp4"
    if target.is_file() and not force:
        return []
    frames = torch.full((16, 48, 64, 3), 0.92)
    for index in range(16):
        left = 2 + index * 3
        frames[index, 14:34, left:left + 16] = torch.tensor([0.85, 0.1, 0.1])
    target.parent.mkdir(parents=True, exist_ok=True)
    write_video(target, frames, 8)
    return [target]
