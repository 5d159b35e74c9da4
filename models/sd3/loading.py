"""Loading SD3 components from disk, offline: diffusers folders, single-file checkpoints in the
original SAI layout (with or without bundled text encoders), and separate text-encoder files.

Every failure is a :class:`~models.sd3.files.ModelFileError` naming the file and what was
expected. Weights are built on the meta device and filled from the file, so a large model is
never randomly initialised first.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch

from models.pickle_guard import from_pretrained_safely
from models.sd3 import configs
from models.sd3.files import ModelFileError, load_tensors, read_header, refuse_unsafe
from models.sd3.layout import (TEXT_ENCODER_PREFIXES, TRANSFORMER_PREFIX, VAE_PREFIX, components_in, strip_prefix,
                               transformer_from_diffusers, transformer_to_diffusers, vae_from_diffusers,
                               vae_to_diffusers)
from models.sd3.wrappers import SD3Clip, SD3Model, SD3Vae, TextEncoder

TOKENIZER_SUBFOLDERS = {"clip_l": "tokenizer", "clip_g": "tokenizer_2", "t5xxl": "tokenizer_3"}
ENCODER_SUBFOLDERS = {"clip_l": "text_encoder", "clip_g": "text_encoder_2", "t5xxl": "text_encoder_3"}
# Inside a ComfyUI install (found through extra_model_paths.yaml), the tokenizers it ships.
COMFYUI_TOKENIZERS = {"clip_l": ("comfy/sd1_tokenizer",), "clip_g": ("comfy/sd1_tokenizer",),
                      "t5xxl": ("comfy/text_encoders/t5_tokenizer", "comfy/t5_tokenizer")}
# Where real tokenizers may sit in the Hugging Face cache (used only if already downloaded).
HUB_TOKENIZERS = {
    "clip_l": [("stabilityai/stable-diffusion-3.5-medium", "tokenizer"), ("openai/clip-vit-large-patch14", None)],
    "clip_g": [("stabilityai/stable-diffusion-3.5-medium", "tokenizer_2"),
               ("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", None)],
    "t5xxl": [("stabilityai/stable-diffusion-3.5-medium", "tokenizer_3"), ("google/t5-v1_1-xxl", None)],
}


# -- building modules from tensors ------------------------------------------------------------------
def fill_model(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str,
          dtype: torch.dtype) -> torch.nn.Module:
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    expected = set(model.state_dict().keys())
    unexpected = sorted(set(state) - expected)
    if unexpected:
        raise ModelFileError(f"{path.name}: unexpected {what} tensors {unexpected[:5]}; the file does not "
                             f"match the {what} config inferred from it")
    try:
        model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as error:
        raise ModelFileError(f"{path.name}: {what} tensors have unexpected shapes ({error})") from error
    missing = [n for n, p in list(model.named_parameters()) + list(model.named_buffers()) if p.is_meta]
    if missing:
        raise ModelFileError(f"{path.name}: {what} tensors missing from the file: {missing[:5]}")
    return model.eval().requires_grad_(False)


def empty_model(factory):
    from accelerate import init_empty_weights

    with init_empty_weights():
        return factory()


def build_transformer(original: dict[str, torch.Tensor], path: Path, dtype: torch.dtype,
                      hints: dict | None = None) -> tuple[Any, str]:
    from diffusers import SD3Transformer2DModel

    original = _dequantized(original, path, dtype)
    try:
        family, config = configs.pick_transformer_config(configs.shapes_of(original), hints)
    except (KeyError, ValueError, IndexError) as error:
        raise ModelFileError(f"{path.name}: not an SD3 diffusion model ({error}); expected MMDiT tensors "
                             f"such as joint_blocks.N.x_block.*") from error
    model = empty_model(lambda: SD3Transformer2DModel.from_config(config))
    try:
        converted = transformer_to_diffusers(dict(original))
    except ValueError as error:
        raise ModelFileError(f"{path.name}: {error}") from error
    return fill_model(model, converted, path, "transformer", dtype), family


def _dequantized(tensors: dict[str, torch.Tensor], path: Path, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """fp8_scaled weights multiplied out before any converter sees them (``models/scaled_fp8.py``)."""
    from models.scaled_fp8 import dequantize_scaled_fp8

    try:
        return dequantize_scaled_fp8(tensors, dtype, path.name)
    except ValueError as error:
        raise ModelFileError(str(error)) from error


def build_vae(original: dict[str, torch.Tensor], path: Path, dtype: torch.dtype, hints: dict | None = None):
    from diffusers import AutoencoderKL

    try:
        config = configs.infer_vae_config(configs.shapes_of(original), hints)
    except (KeyError, ValueError, IndexError) as error:
        raise ModelFileError(f"{path.name}: not an SD3 VAE ({error}); expected LDM-layout VAE tensors "
                             f"(encoder.down.N..., decoder...)") from error
    model = empty_model(lambda: AutoencoderKL.from_config(config))
    # diffusers' converter drops names it does not know: compare with the model's own, in LDM names.
    recognised = set(vae_from_diffusers(model.state_dict(), len(config["block_out_channels"])))
    unknown = sorted(set(original) - recognised)
    if unknown:
        raise ModelFileError(f"{path.name}: {len(unknown)} VAE tensor(s) not recognised, e.g. {unknown[:5]}; they "
                             f"would be silently dropped (is this a VAE of another architecture?)")
    return fill_model(model, vae_to_diffusers(original, config), path, "VAE", dtype)


def build_text_encoder(state: dict[str, torch.Tensor], role: str, path: Path, dtype: torch.dtype,
                       hints: dict | None = None):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    state = _dequantized(state, path, dtype)
    shapes = configs.shapes_of(state)
    try:
        if role == "t5xxl":
            config = T5Config(**configs.infer_t5_config(shapes, hints), is_encoder_decoder=False, use_cache=False)
            if "encoder.embed_tokens.weight" not in state and "shared.weight" in state:
                state = dict(state, **{"encoder.embed_tokens.weight": state["shared.weight"]})
            if "shared.weight" not in state and "encoder.embed_tokens.weight" in state:
                state = dict(state, **{"shared.weight": state["encoder.embed_tokens.weight"]})
            model = empty_model(lambda: T5EncoderModel(config))
        else:
            config = CLIPTextConfig(**configs.infer_clip_config(shapes, role, hints))
            if "text_projection.weight" not in state:  # SAI files may omit CLIP-L's identity projection
                state = dict(state, **{"text_projection.weight": torch.eye(config.hidden_size)})
            state = {k: v for k, v in state.items() if not k.endswith("position_ids")}
            model = empty_model(lambda: CLIPTextModelWithProjection(config))
    except (KeyError, ValueError, IndexError, TypeError) as error:
        raise ModelFileError(f"{path.name}: not a {role} text encoder ({error}); expected transformers-layout "
                             f"tensors") from error
    return fill_model(model, state, path, role, dtype)


# -- tokenizers -------------------------------------------------------------------------------------
def _tokenizer_from_files(files: dict[str, str], class_name: str):
    import transformers

    with tempfile.TemporaryDirectory(prefix="plexus-tok-") as folder:
        for name, text in files.items():
            (Path(folder) / Path(name).name).write_text(text)
        return getattr(transformers, class_name).from_pretrained(folder)


def tokenizer_from_folder(folder: Path, role: str):
    import transformers

    class_name = "T5TokenizerFast" if role == "t5xxl" else "CLIPTokenizer"
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        declared = json.loads(config_file.read_text()).get("tokenizer_class")
        if declared and hasattr(transformers, declared):
            class_name = declared
    return getattr(transformers, class_name).from_pretrained(str(folder))


def find_tokenizer(role: str, metadata: dict, search_dirs: Iterable[Path]):
    """A tokenizer for ``role``: embedded in the file, next to it, in a tokenizer folder, in an SD3
    diffusers folder, or in the local Hugging Face cache. Never downloads."""
    tokenizer = _find_tokenizer(role, metadata, search_dirs)
    if role == "clip_g" and len(tokenizer) == 49408 and getattr(tokenizer, "pad_token", None) != "!":
        tokenizer.pad_token = "!"  # SD3 pads CLIP-G's prompt with "!" (id 0), not with the end token
    return tokenizer


def _find_tokenizer(role: str, metadata: dict, search_dirs: Iterable[Path]):
    embedded = metadata.get(f"plexus.tokenizer.{role}")
    if embedded:
        payload = json.loads(embedded)
        return _tokenizer_from_files(payload["files"], payload["class"])
    for base in search_dirs:
        candidates = [base / role, base / "tokenizers" / role, base / TOKENIZER_SUBFOLDERS[role]]
        candidates += [base / relative for relative in COMFYUI_TOKENIZERS[role]]
        for candidate in candidates:
            if candidate.is_dir() and ((candidate / "tokenizer_config.json").is_file()
                                       or (candidate / "vocab.json").is_file()
                                       or (candidate / "spiece.model").is_file()):
                return tokenizer_from_folder(candidate, role)
    for repo, subfolder in HUB_TOKENIZERS[role]:
        try:
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(repo, subfolder=subfolder or "", local_files_only=True)
        except Exception:  # noqa: BLE001 - not in the cache
            continue
    raise ModelFileError(
        f"no tokenizer found for the {role} text encoder. Put the tokenizer files (tokenizer.json or "
        f"vocab.json+merges.txt for CLIP, spiece.model/tokenizer.json for T5) in models/text_encoders/"
        f"tokenizers/{role}/, place an SD3 diffusers folder (with {TOKENIZER_SUBFOLDERS[role]}/) in "
        f"models/checkpoints/, or point extra_model_paths.yaml at a ComfyUI install (its tokenizers are used)")


# -- public loaders ---------------------------------------------------------------------------------
def _shift_from(metadata: dict, family: str) -> float:
    if "plexus.shift" in metadata:
        return float(metadata["plexus.shift"])
    if family in configs.FAMILIES:
        return float(configs.family_config(family).get("shift", configs.DEFAULT_SHIFT))
    return configs.DEFAULT_SHIFT


def tokenizers_for(roles: Iterable[str], metadata: dict, path: Path, tokenizer_dirs: Iterable[Path]) -> dict:
    """role -> tokenizer for every bundled encoder, found before any weight is read; one error
    listing every missing tokenizer folder and where to put it otherwise."""
    tokenizer_dirs = list(tokenizer_dirs)
    found, missing = {}, []
    for role in roles:
        try:
            found[role] = find_tokenizer(role, metadata, [path.parent, *tokenizer_dirs])
        except ModelFileError:
            missing.append(role)
    if missing:
        home = tokenizer_dirs[0] if tokenizer_dirs else Path("models/text_encoders")
        folders = "; ".join(f"{home / 'tokenizers' / role}/ (the {TOKENIZER_SUBFOLDERS[role]}/ folder of an SD3 "
                            f"diffusers repository such as stabilityai/stable-diffusion-3.5-medium)" for role in missing)
        raise ModelFileError(
            f"{path.name} bundles the {', '.join(missing)} text encoder(s) but no tokenizer for them, and none was "
            f"found. Add: {folders}. Or put an SD3 diffusers folder in models/checkpoints/, or point "
            f"extra_model_paths.yaml at a ComfyUI install.")
    return found


def _clip_from_tensors(tensors: dict, path: Path, dtype: torch.dtype, tokenizers: dict, hints: dict,
                       joint_dim: int | None = None) -> SD3Clip:
    encoders: dict[str, TextEncoder] = {}
    for role, tokenizer in tokenizers.items():
        state = strip_prefix(tensors, TEXT_ENCODER_PREFIXES[role])
        model = build_text_encoder(state, role, path, dtype, hints.get(role))
        encoders[role] = TextEncoder(model, tokenizer, role)
    if "t5xxl" in encoders:
        joint_dim = encoders["t5xxl"].model.config.d_model
    return SD3Clip(**encoders, name=path.name, joint_dim=joint_dim)


def load_checkpoint(path: Path, dtype: torch.dtype, tokenizer_dirs: Iterable[Path] = ()
                    ) -> tuple[SD3Model, SD3Clip | None, SD3Vae | None]:
    """MODEL, CLIP (None without bundled text encoders) and VAE from a checkpoint file or folder."""
    refuse_unsafe(path)
    if path.is_dir():
        return load_diffusers_pipeline(path, dtype)
    header, metadata = read_header(path)
    found = components_in(header)
    if "transformer" not in found:
        raise ModelFileError(f"{path.name}: not an SD3 checkpoint; expected tensors under "
                             f"'{TRANSFORMER_PREFIX}' (original SAI layout), found e.g. {list(header)[:3]}")
    hints = configs.embedded_configs(metadata)
    roles = [r for r in ("clip_l", "clip_g", "t5xxl") if r in found]
    tokenizers = tokenizers_for(roles, metadata, path, tokenizer_dirs)  # before any weight is read
    # One component at a time, cast while reading: peak memory stays near one component's size.
    if any(k.startswith(TRANSFORMER_PREFIX) for k in header):
        raw = strip_prefix(load_tensors(path, (TRANSFORMER_PREFIX,), dtype), TRANSFORMER_PREFIX)
    else:  # a bare MMDiT file
        raw = load_tensors(path, dtype=dtype)
    transformer, family = build_transformer(raw, path, dtype, hints.get("transformer"))
    del raw
    model = SD3Model(transformer, name=path.name, shift=_shift_from(metadata, family))
    vae = None
    if "vae" in found:
        raw = strip_prefix(load_tensors(path, (VAE_PREFIX,), dtype), VAE_PREFIX)
        vae = SD3Vae(build_vae(raw, path, dtype, hints.get("vae")), name=path.name)
        del raw
    clip = None
    if roles:
        raw = load_tensors(path, tuple(TEXT_ENCODER_PREFIXES[r] for r in roles), dtype)
        clip = _clip_from_tensors(raw, path, dtype, tokenizers, hints, joint_dim=model.joint_attention_dim)
    return model, clip, vae


def _diffusers_class(folder: Path, component: str, default: str):
    import diffusers
    import transformers

    index_file = folder / "model_index.json"
    library, name = ("", default)
    if index_file.is_file():
        entry = json.loads(index_file.read_text()).get(component)
        if isinstance(entry, list) and len(entry) == 2 and entry[1]:
            library, name = entry
    module = transformers if library == "transformers" else diffusers
    cls = getattr(module, name, None) or getattr(transformers, name, None) or getattr(diffusers, name, None)
    if cls is None:
        raise ModelFileError(f"{folder.name}: unknown class {name!r} for {component} in model_index.json")
    return cls


def load_diffusers_pipeline(folder: Path, dtype: torch.dtype) -> tuple[SD3Model, SD3Clip | None, SD3Vae | None]:
    if not (folder / "model_index.json").is_file() or not (folder / "transformer").is_dir():
        raise ModelFileError(f"{folder.name}: not an SD3 diffusers folder; expected model_index.json and "
                             f"a transformer/ subfolder")
    try:
        model = load_diffusion_model(folder / "transformer", dtype)
        shift = configs.DEFAULT_SHIFT
        scheduler_file = folder / "scheduler" / "scheduler_config.json"
        if scheduler_file.is_file():
            shift = float(json.loads(scheduler_file.read_text()).get("shift", shift))
        model = model.clone(name=folder.name, shift=shift)
        vae = load_vae(folder / "vae", dtype) if (folder / "vae").is_dir() else None
        encoders = {}
        for role, sub in ENCODER_SUBFOLDERS.items():
            if (folder / sub).is_dir():
                cls = _diffusers_class(folder, sub, "T5EncoderModel" if role == "t5xxl" else
                                       "CLIPTextModelWithProjection")
                encoder = from_pretrained_safely(cls, folder / sub, torch_dtype=dtype).eval().requires_grad_(False)
                encoders[role] = TextEncoder(encoder, tokenizer_from_folder(folder / TOKENIZER_SUBFOLDERS[role], role),
                                             role)
    except ModelFileError:
        raise
    except (OSError, ValueError, KeyError) as error:
        raise ModelFileError(f"{folder.name}: could not load the diffusers folder ({error})") from error
    clip = SD3Clip(**encoders, name=folder.name, joint_dim=model.joint_attention_dim) if encoders else None
    return model, clip, vae


FP8_STORAGE = {"fp8_e4m3fn": "float8_e4m3fn", "fp8_e4m3fn_fast": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2"}


def with_weight_dtype(model: SD3Model, weight_dtype: str, compute_dtype: torch.dtype) -> SD3Model:
    """Store the transformer's weights in fp8 (halving memory) and upcast each layer to
    ``compute_dtype`` when it runs (diffusers' layerwise casting). Call on a freshly loaded model."""
    storage = getattr(torch, FP8_STORAGE[weight_dtype])
    model.transformer.enable_layerwise_casting(storage_dtype=storage, compute_dtype=compute_dtype)
    return model


def load_diffusion_model(path: Path, dtype: torch.dtype) -> SD3Model:
    """MODEL from a diffusers transformer folder, a pipeline folder, or a single file (either layout)."""
    from diffusers import SD3Transformer2DModel

    refuse_unsafe(path)
    if path.is_dir():
        if (path / "model_index.json").is_file():
            return load_diffusers_pipeline(path, dtype)[0]
        if not (path / "config.json").is_file():
            raise ModelFileError(f"{path.name}: not a diffusers model folder (no config.json)")
        try:
            transformer = from_pretrained_safely(SD3Transformer2DModel, path, torch_dtype=dtype)
        except (OSError, ValueError) as error:
            raise ModelFileError(f"{path.name}: could not load the SD3 transformer folder ({error})") from error
        return SD3Model(transformer.eval().requires_grad_(False), name=path.name)
    header, metadata = read_header(path)
    tensors = load_tensors(path, dtype=None)
    if any(k.startswith("transformer_blocks.") for k in header):  # diffusers layout in one file
        tensors = transformer_from_diffusers(tensors)
    else:
        tensors = strip_prefix(tensors, TRANSFORMER_PREFIX) or tensors
    transformer, family = build_transformer(tensors, path, dtype, configs.embedded_configs(metadata).get("transformer"))
    return SD3Model(transformer, name=path.name, shift=_shift_from(metadata, family))


def load_vae(path: Path, dtype: torch.dtype, hints: dict | None = None) -> SD3Vae:
    """VAE from a diffusers folder or a safetensors file (LDM layout, optional ``first_stage_model.``).
    ``hints`` (e.g. FLUX's latent scaling) apply where the file's metadata says nothing."""
    from diffusers import AutoencoderKL

    refuse_unsafe(path)
    if path.is_dir():
        try:
            vae = from_pretrained_safely(AutoencoderKL, path, torch_dtype=dtype)
        except (OSError, ValueError) as error:
            raise ModelFileError(f"{path.name}: could not load the VAE folder ({error})") from error
        return SD3Vae(vae.eval().requires_grad_(False), name=path.name)
    header, metadata = read_header(path)
    tensors = load_tensors(path)
    if any(k.startswith("decoder.up_blocks.") for k in header):  # diffusers layout in one file
        blocks = len({k.split(".")[2] for k in header if k.startswith("decoder.up_blocks.")})
        tensors = vae_from_diffusers(tensors, blocks)
    else:
        inside = strip_prefix(tensors, VAE_PREFIX)
        if inside and len(inside) != len(tensors):
            others = sorted(k for k in tensors if not k.startswith(VAE_PREFIX))
            raise ModelFileError(f"{path.name}: {len(others)} tensor(s) outside the VAE ({VAE_PREFIX}...) not "
                                 f"recognised, e.g. {others[:5]}; load a full checkpoint with CheckpointLoaderSimple")
        tensors = inside or tensors
    hints = dict(hints or {}, **configs.embedded_configs(metadata).get("vae", {}))
    return SD3Vae(build_vae(tensors, path, dtype, hints), name=path.name)


def _role_of_file(path: Path, header: dict) -> list[str]:
    """Which encoder(s) a text-encoder file holds: bundled SAI prefixes, or one bare encoder."""
    bundled = [r for r in ("clip_l", "clip_g", "t5xxl") if r in components_in(header)]
    if bundled:
        return bundled
    if "shared.weight" in header or "encoder.embed_tokens.weight" in header:
        return ["t5xxl"]
    if "text_model.embeddings.token_embedding.weight" in header:
        return [configs.role_of_clip(configs.shapes_of(header), [path.name])]
    raise ModelFileError(f"{path.name}: not a CLIP or T5 text encoder; expected transformers-layout tensors "
                         f"(text_model.* for CLIP, encoder.block.* and shared.weight for T5)")


def load_text_encoders(paths: Iterable[Path], dtype: torch.dtype, tokenizer_dirs: Iterable[Path] = ()) -> SD3Clip:
    """CLIP from separate text-encoder files (clip_l, clip_g, t5xxl in any order) or folders."""
    encoders: dict[str, TextEncoder] = {}
    names = []
    for path in paths:
        refuse_unsafe(path)
        names.append(path.name)
        if path.is_dir():
            encoders.update(_encoders_from_folder(path, dtype, tokenizer_dirs))
            continue
        header, metadata = read_header(path)
        roles = _role_of_file(path, header)
        tensors = load_tensors(path)
        hints = configs.embedded_configs(metadata)
        for role in roles:
            prefix = TEXT_ENCODER_PREFIXES[role]
            state = strip_prefix(tensors, prefix) if any(k.startswith(prefix) for k in tensors) else tensors
            model = build_text_encoder(state, role, path, dtype, hints.get(role))
            encoders[role] = TextEncoder(model, find_tokenizer(role, metadata, [path.parent, *tokenizer_dirs]), role)
    joint = encoders["t5xxl"].model.config.d_model if "t5xxl" in encoders else None
    return SD3Clip(**encoders, name="+".join(names), joint_dim=joint)


def _encoders_from_folder(folder: Path, dtype: torch.dtype, tokenizer_dirs: Iterable[Path]) -> dict[str, TextEncoder]:
    import transformers

    config = json.loads((folder / "config.json").read_text()) if (folder / "config.json").is_file() else {}
    architecture = (config.get("architectures") or [""])[0]
    if config.get("model_type") == "t5":
        role, cls = "t5xxl", transformers.T5EncoderModel
    elif config.get("model_type") in ("clip_text_model", "clip"):
        role = "clip_g" if config.get("hidden_size") == 1280 or "clip_g" in folder.name.lower() else "clip_l"
        cls = transformers.CLIPTextModelWithProjection
    else:
        raise ModelFileError(f"{folder.name}: not a CLIP or T5 text-encoder folder ({architecture or 'no config'})")
    model = from_pretrained_safely(cls, folder, torch_dtype=dtype).eval().requires_grad_(False)
    tokenizer = find_tokenizer(role, {}, [folder, folder.parent, *tokenizer_dirs])
    return {role: TextEncoder(model, tokenizer, role)}
