"""A tiny random-weight Fuyu, built from a config, with a tokenizer made by the ``tokenizers``
library (no hub, no sentencepiece).

The tokenizer is a Unigram model laid out as Fuyu's is: a normaliser that puts the word marker
``▁`` before the text and in place of spaces; the pieces ``<0x00>``..``<0x04>`` (box and point
tags, and ``<0x04>``, the beginning of answer), ``|SPEAKER|`` (image patch) and ``|NEWLINE|`` (end
of a patch row) as ordinary pieces of the vocabulary. (Fuyu's own has all 256 byte pieces; a random
model would mostly pick those, and the demo's replies are more readable without them.)
"""
from __future__ import annotations

import string
from typing import Any

_WORDS = ("the", "a", "an", "of", "in", "on", "is", "what", "image", "picture", "cat", "dog", "red", "blue",
          "green", "photo", "shown", "describe", "caption", "generate", "coco", "style", "circle", "square")


def build_fuyu_tokenizer() -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers
    from transformers.tokenization_utils_tokenizers import TokenizersBackend

    specials = ["<unk>", "<s>", "|ENDOFTEXT|"]
    pieces = [(token, 0.0) for token in specials + ["|SPEAKER|", "|NEWLINE|"]]
    pieces += [(f"<0x{byte:02X}>", 0.0) for byte in range(5)]
    pieces += [("\u2581", -2.0)]
    pieces += [(char, -5.0) for char in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("\u2581" + word, -1.0) for word in _WORDS]  # whole words are cheaper than their letters
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=0))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")])
    tokenizer.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(" ", 1, 0)])
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in specials])
    return TokenizersBackend(tokenizer_object=tokenizer, bos_token="<s>", eos_token="|ENDOFTEXT|", unk_token="<unk>")


def build_tiny_fuyu() -> tuple[Any, Any]:
    """(model, processor): 8-pixel patches, pictures scaled down to fit 64x64."""
    import torch
    from transformers import FuyuConfig, FuyuForCausalLM, FuyuImageProcessorPil

    from models.vision_language.fuyu import PAD_TOKEN_ID, FuyuInputs

    tokenizer = build_fuyu_tokenizer()
    image_processor = FuyuImageProcessorPil(size={"height": 64, "width": 64}, patch_size={"height": 8, "width": 8})
    text = {"model_type": "persimmon", "vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 512, "hidden_act": "relu2",
            "qk_layernorm": True, "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": PAD_TOKEN_ID}
    config = FuyuConfig(text_config=text, patch_size=8, num_channels=3,
                        image_token_id=tokenizer.convert_tokens_to_ids("|SPEAKER|"))
    torch.manual_seed(15)
    model = FuyuForCausalLM(config)
    model.generation_config.pad_token_id = PAD_TOKEN_ID
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    # a trained Fuyu never writes placeholders or tags in a caption; a random one would
    model.generation_config.suppress_tokens = tokenizer.convert_tokens_to_ids(
        ["|SPEAKER|", "|NEWLINE|"] + [f"<0x{byte:02X}>" for byte in range(5)])
    return model.eval(), FuyuInputs(tokenizer, image_processor)
