"""Model loader nodes (ComfyUI names and sockets) for SD3 / SD3.5 and FLUX.1 (the family is read from
the file; see ``models/families.py``).

Loading is lazy and cached by the model manager under the file's identity (path, mtime, size),
so two loaders of the same file share the weights. No torch import at module level.
"""
from __future__ import annotations

from pathlib import Path

from execution.declare import Combo, Out, node
from models.folders import ModelListing

CLIP_TYPES = ("sd3", "stable_diffusion", "sdxl", "flux")
WEIGHT_DTYPES = ("default", "fp8_e4m3fn", "fp8_e4m3fn_fast", "fp8_e5m2")


def _listing(kind: str) -> ModelListing:
    return ModelListing(kind)


def _resolve(services, kind: str, name: str) -> Path:
    path = services.paths.model_path(kind, name)
    if path is None:
        folders = ", ".join(str(p) for p in services.paths.model_folders.get(kind, []))
        raise FileNotFoundError(f"{kind} model {name!r} not found in {folders}")
    return path


def tokenizer_search_dirs(services) -> list[Path]:
    """Folders where SD3 tokenizers may be found for files that do not embed them."""
    dirs = list(services.paths.model_folders.get("text_encoders", []))
    for folders in services.paths.model_folders.values():  # ComfyUI installs: <root>/models/<kind>
        for folder in folders:
            root = folder.parent.parent
            if (root / "comfy").is_dir() and root not in dirs:
                dirs.append(root)
    for name in services.paths.list_models("checkpoints"):
        path = services.paths.model_path("checkpoints", name)
        if path is not None and (path / "model_index.json").is_file():
            dirs.append(path)
    return dirs


def _cache_key(kind: str, manager, *paths: Path) -> str:
    from models.sd3.files import file_identity

    return f"{kind}|{manager.dtype}|" + "|".join(file_identity(p) for p in paths)


def load_checkpoint_cached(services, ckpt_name: str):
    from models.families import load_checkpoint

    manager = services.models
    path = _resolve(services, "checkpoints", ckpt_name)
    def load():
        model, clip, vae = load_checkpoint(path, manager.dtype, tokenizer_search_dirs(services))
        if vae is not None:  # latent previews use this VAE's colour map
            model = model.clone(transformer_options={"preview_vae": vae})
        return model, clip, vae

    return manager.get_or_load(_cache_key("checkpoint", manager, path), load)


@node("CheckpointLoaderSimple", category="loaders", display_name="Load Checkpoint",
      inputs=[Combo("ckpt_name", _listing("checkpoints"))],
      outputs=[Out("MODEL"), Out("CLIP"), Out("VAE")],
      description="Loads an SD3/SD3.5 or FLUX.1 checkpoint: a single .safetensors file in the original "
                  "layout (with or without text encoders, fp8 or fp8_scaled) or a diffusers folder.")
def checkpoint_loader_simple(ctx, ckpt_name):
    return load_checkpoint_cached(ctx.services, ckpt_name)


@node("UNETLoader", category="advanced/loaders", display_name="Load Diffusion Model",
      inputs=[Combo("unet_name", _listing("diffusion_models")), Combo("weight_dtype", WEIGHT_DTYPES)],
      outputs=[Out("MODEL")], description="Loads a diffusion model alone (SD3 MMDiT, FLUX.1 dev/schnell). fp8 weight "
                                          "dtypes store the weights in 8 bits and compute each layer in the usual "
                                          "precision.")
def unet_loader(ctx, unet_name, weight_dtype="default"):
    from models.families import load_diffusion_model
    from models.sd3.loading import with_weight_dtype

    manager = ctx.services.models
    path = _resolve(ctx.services, "diffusion_models", unet_name)

    def load():
        model = load_diffusion_model(path, manager.dtype)
        return model if weight_dtype == "default" else with_weight_dtype(model, weight_dtype, manager.dtype)

    return (manager.get_or_load(_cache_key(f"diffusion_model:{weight_dtype}", manager, path), load),)


@node("VAELoader", category="loaders", display_name="Load VAE",
      inputs=[Combo("vae_name", _listing("vae"))], outputs=[Out("VAE")])
def vae_loader(ctx, vae_name):
    from models.families import load_vae

    manager = ctx.services.models
    path = _resolve(ctx.services, "vae", vae_name)
    return (manager.get_or_load(_cache_key("vae", manager, path), lambda: load_vae(path, manager.dtype)),)


def _load_clip(ctx, names: list[str], clip_type: str, device: str = "default"):
    from models.sd3.loading import load_text_encoders

    if clip_type not in ("sd3", "flux"):
        raise ValueError(f"CLIP type {clip_type!r} is not supported; Plexus supports type 'sd3' "
                         f"(CLIP-L, CLIP-G and T5-XXL text encoders) and 'flux' (CLIP-L and T5-XXL)")
    manager = ctx.services.models
    paths = [_resolve(ctx.services, "text_encoders", name) for name in names]
    clip = manager.get_or_load(_cache_key("text_encoders", manager, *paths),
                               lambda: load_text_encoders(paths, manager.dtype, tokenizer_search_dirs(ctx.services)))
    if clip_type == "flux":
        from models.flux.loading import flux_clip_from

        clip = flux_clip_from(clip)
    return (clip.clone(run_on_cpu=True) if device == "cpu" else clip,)


@node("CLIPLoader", category="advanced/loaders", display_name="Load CLIP",
      inputs=[Combo("clip_name", _listing("text_encoders")), Combo("type", CLIP_TYPES),
              Combo("device", ("default", "cpu"), optional=True)],
      outputs=[Out("CLIP")], description="One SD3 text encoder (clip_l, clip_g or t5xxl); the others are zeros.")
def clip_loader(ctx, clip_name, type="sd3", device="default"):
    return _load_clip(ctx, [clip_name], type, device)


@node("DualCLIPLoader", category="advanced/loaders", display_name="DualCLIPLoader",
      inputs=[Combo("clip_name1", _listing("text_encoders")), Combo("clip_name2", _listing("text_encoders")),
              Combo("type", CLIP_TYPES), Combo("device", ("default", "cpu"), optional=True)],
      outputs=[Out("CLIP")], description="Two text encoders: clip_l + clip_g for SD3 (no T5), or clip_l + t5xxl "
                                         "with type flux.")
def dual_clip_loader(ctx, clip_name1, clip_name2, type="sd3", device="default"):
    return _load_clip(ctx, [clip_name1, clip_name2], type, device)


@node("TripleCLIPLoader", category="advanced/loaders", display_name="TripleCLIPLoader",
      inputs=[Combo("clip_name1", _listing("text_encoders")), Combo("clip_name2", _listing("text_encoders")),
              Combo("clip_name3", _listing("text_encoders"))],
      outputs=[Out("CLIP")], description="SD3's three text encoders: clip_l, clip_g and t5xxl.")
def triple_clip_loader(ctx, clip_name1, clip_name2, clip_name3):
    return _load_clip(ctx, [clip_name1, clip_name2, clip_name3], "sd3")
