"""Tiny random-weight SD3 components for smoke tests, written into ``models/``.

RANDOM WEIGHTS: the files prove that the graph runs end to end; the images are noise. Written:

- ``checkpoints/plexus-demo-sd3-tiny-RANDOM.safetensors``: one file in the original SAI key layout
  with the three text encoders bundled (configs and tokenizers in its safetensors metadata);
- ``checkpoints/plexus-demo-sd3-tiny-RANDOM-diffusers/``: the same weights as a diffusers folder;
- ``diffusion_models/plexus-demo-sd3-tiny-RANDOM-mmdit.safetensors``: the MMDiT alone (SAI layout);
- ``vae/plexus-demo-sd3-tiny-RANDOM-vae.safetensors``: the VAE alone (LDM layout);
- ``text_encoders/plexus-demo-{clip_l,clip_g,t5xxl}-tiny-RANDOM.safetensors``: separate encoders.

Sizes follow ``shared/docs/tiny-models.md``. Built from a fixed seed: the same bytes every time.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

DEMO_VERSION = 1
DEMO_LABEL = "Plexus demo: RANDOM WEIGHTS for smoke tests, not a real model"
CHECKPOINT = "plexus-demo-sd3-tiny-RANDOM.safetensors"
DIFFUSERS_FOLDER = "plexus-demo-sd3-tiny-RANDOM-diffusers"
MMDIT = "plexus-demo-sd3-tiny-RANDOM-mmdit.safetensors"
VAE = "plexus-demo-sd3-tiny-RANDOM-vae.safetensors"
TEXT_ENCODERS = {role: f"plexus-demo-{role}-tiny-RANDOM.safetensors" for role in ("clip_l", "clip_g", "t5xxl")}
STAMP = ".plexus-demo-sd3.json"

TRANSFORMER_CONFIG: dict[str, Any] = dict(
    sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
    num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=48,
    pos_embed_max_size=32)
VAE_CONFIG: dict[str, Any] = dict(
    in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4, block_out_channels=[8, 8, 8, 8], layers_per_block=1,
    latent_channels=16, norm_num_groups=4, scaling_factor=1.5305, shift_factor=0.0609,
    use_quant_conv=False, use_post_quant_conv=False)
CLIP_SIZES = {"clip_l": dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
                             projection_dim=16, hidden_act="quick_gelu"),
              "clip_g": dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
                             projection_dim=32, hidden_act="gelu")}
T5_CONFIG: dict[str, Any] = dict(d_model=64, d_kv=16, d_ff=128, num_layers=1, num_heads=4,
                                 feed_forward_proj="gated-gelu")
WORDS = ("a", "the", "of", "photo", "cat", "dog", "red", "blue", "green", "house", "tree", "sky", "in", "on",
         "with", "and", "mountain", "lake", "sunset", "city", "night", "portrait", "painting", "forest")


def _byte_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes (printable bytes map to
    themselves, the rest to code points from 256 upwards)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    extra = 0
    chars = {}
    for byte in range(256):
        if byte in printable:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def build_clip_tokenizer():
    from transformers import CLIPTokenizer

    alphabet = _byte_alphabet()
    vocab: dict[str, int] = {}
    for token in alphabet + [c + "</w>" for c in alphabet]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for word in WORDS:  # merge each word left to right, the last piece carrying </w>
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            pair = (pieces[0], pieces[1])
            merged = pair[0] + pair[1]
            if pair not in merges:
                merges.append(pair)
            vocab.setdefault(merged, len(vocab))
            pieces = [merged] + pieces[2:]
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)  # the highest id, as in real CLIP (pooling may use argmax)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_t5_tokenizer():
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [("\u2581" + w, -1.0) for w in WORDS]
    pieces += [(c, -5.0) for c in "abcdefghijklmnopqrstuvwxyz0123456789.,!?'-"]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def build_tiny_sd3(seed: int = 0) -> dict[str, Any]:
    """The tiny pipeline's components (transformer, vae, text encoders, tokenizers, scheduler)."""
    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    clip_tokenizer, t5_tokenizer = build_clip_tokenizer(), build_t5_tokenizer()
    eos = clip_tokenizer.convert_tokens_to_ids("<|endoftext|>")
    bos = clip_tokenizer.convert_tokens_to_ids("<|startoftext|>")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer = SD3Transformer2DModel(**TRANSFORMER_CONFIG)
        vae = AutoencoderKL(**VAE_CONFIG)
        encoders = {}
        for role, sizes in CLIP_SIZES.items():
            config = CLIPTextConfig(**sizes, vocab_size=len(clip_tokenizer), max_position_embeddings=77,
                                    bos_token_id=bos, eos_token_id=eos, pad_token_id=eos)
            encoders[role] = CLIPTextModelWithProjection(config)
        encoders["t5xxl"] = T5EncoderModel(T5Config(**T5_CONFIG, vocab_size=len(t5_tokenizer)))
    return {"transformer": transformer.eval(), "vae": vae.eval(), "text_encoder": encoders["clip_l"].eval(),
            "text_encoder_2": encoders["clip_g"].eval(), "text_encoder_3": encoders["t5xxl"].eval(),
            "tokenizer": clip_tokenizer, "tokenizer_2": clip_tokenizer, "tokenizer_3": t5_tokenizer,
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0)}


def _tokenizer_payload(tokenizer) -> str:
    with tempfile.TemporaryDirectory(prefix="plexus-tok-") as folder:
        tokenizer.save_pretrained(folder)
        files = {p.name: p.read_text() for p in Path(folder).iterdir() if p.is_file()}
    return json.dumps({"class": type(tokenizer).__name__, "files": files})


def _encoder_state(model) -> dict:
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items() if not k.endswith("position_ids")}


def _clip_hints(model) -> dict:
    config = model.config
    return {k: getattr(config, k) for k in ("num_attention_heads", "hidden_act", "bos_token_id", "eos_token_id",
                                            "pad_token_id", "layer_norm_eps")}


def original_layout_tensors(components: dict, *, transformer: bool = True, vae: bool = True,
                            text_encoders: bool = True) -> tuple[dict, dict]:
    """(tensors, metadata) of a single-file checkpoint in the original SAI layout."""
    from models.sd3.layout import (TEXT_ENCODER_PREFIXES, TRANSFORMER_PREFIX, VAE_PREFIX, add_prefix,
                                   transformer_from_diffusers, vae_from_diffusers)

    tensors: dict = {}
    hints: dict = {}
    metadata = {"plexus.note": DEMO_LABEL, "plexus.shift": "3.0"}
    if transformer:
        state = {k: v.detach().contiguous() for k, v in components["transformer"].state_dict().items()}
        tensors.update(add_prefix(transformer_from_diffusers(state), TRANSFORMER_PREFIX))
        hints["transformer"] = {"attention_head_dim": TRANSFORMER_CONFIG["attention_head_dim"],
                                "sample_size": TRANSFORMER_CONFIG["sample_size"]}
    if vae:
        state = {k: v.detach().contiguous() for k, v in components["vae"].state_dict().items()}
        tensors.update(add_prefix(vae_from_diffusers(state, len(VAE_CONFIG["block_out_channels"])), VAE_PREFIX))
        hints["vae"] = {"norm_num_groups": VAE_CONFIG["norm_num_groups"], "sample_size": 64}
    if text_encoders:
        for role, key in (("clip_l", "text_encoder"), ("clip_g", "text_encoder_2"), ("t5xxl", "text_encoder_3")):
            tensors.update(add_prefix(_encoder_state(components[key]), TEXT_ENCODER_PREFIXES[role]))
            tokenizer = components["tokenizer_3" if role == "t5xxl" else "tokenizer"]
            metadata[f"plexus.tokenizer.{role}"] = _tokenizer_payload(tokenizer)
            if role != "t5xxl":
                hints[role] = _clip_hints(components[key])
    metadata["plexus.config"] = json.dumps(hints)
    return {k: v.contiguous().clone() for k, v in tensors.items()}, metadata


def _save(tensors: dict, metadata: dict, path: Path) -> None:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    partial.replace(path)


def write_checkpoint(components: dict, path: Path, **parts: bool) -> Path:
    tensors, metadata = original_layout_tensors(components, **parts)
    _save(tensors, metadata, path)
    return path


def write_text_encoder(components: dict, role: str, path: Path) -> Path:
    key = {"clip_l": "text_encoder", "clip_g": "text_encoder_2", "t5xxl": "text_encoder_3"}[role]
    model = components[key]
    metadata = {"plexus.note": DEMO_LABEL,
                f"plexus.tokenizer.{role}": _tokenizer_payload(components["tokenizer_3" if role == "t5xxl"
                                                                          else "tokenizer"])}
    if role != "t5xxl":
        metadata["plexus.config"] = json.dumps({role: _clip_hints(model)})
    _save(_encoder_state(model), metadata, path)
    return path


def write_diffusers_folder(components: dict, folder: Path) -> Path:
    import shutil

    from diffusers import StableDiffusion3Pipeline

    pipeline = StableDiffusion3Pipeline(**components)
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipeline.save_pretrained(str(partial))
    (partial / "RANDOM-WEIGHTS.txt").write_text(DEMO_LABEL + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.replace(folder)
    return folder


def demo_paths(models_dir: Path) -> dict[str, Path]:
    paths = {"checkpoint": models_dir / "checkpoints" / CHECKPOINT,
             "diffusers": models_dir / "checkpoints" / DIFFUSERS_FOLDER,
             "mmdit": models_dir / "diffusion_models" / MMDIT,
             "vae": models_dir / "vae" / VAE}
    paths.update({role: models_dir / "text_encoders" / name for role, name in TEXT_ENCODERS.items()})
    return paths


def demo_sd3_present(models_dir: Path) -> bool:
    stamp = models_dir / STAMP
    try:
        version = json.loads(stamp.read_text()).get("version")
    except (OSError, ValueError):
        return False
    return version == DEMO_VERSION and all(p.exists() for p in demo_paths(models_dir).values())


def write_demo_sd3(models_dir: Path, force: bool = False) -> list[Path]:
    """Write the tiny SD3 files (skipped when present unless ``force``); returns the paths written."""
    models_dir = Path(models_dir)
    if not force and demo_sd3_present(models_dir):
        return []
    paths = demo_paths(models_dir)
    components = build_tiny_sd3()
    written = [write_checkpoint(components, paths["checkpoint"]),
               write_diffusers_folder(components, paths["diffusers"]),
               write_checkpoint(components, paths["mmdit"], vae=False, text_encoders=False),
               write_checkpoint(components, paths["vae"], transformer=False, text_encoders=False)]
    written += [write_text_encoder(components, role, paths[role]) for role in TEXT_ENCODERS]
    (models_dir / STAMP).write_text(json.dumps({"version": DEMO_VERSION, "label": DEMO_LABEL}))
    return written
