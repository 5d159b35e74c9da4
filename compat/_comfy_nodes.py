"""ComfyUI's ``nodes`` host module, grafted onto Plexus's own ``nodes`` package.

Plexus's built-in nodes live in a package that is also called ``nodes`` and is imported before any
pack, so a separate ``nodes.py`` here could never be found. Instead the loader gives that package
a module ``__getattr__`` (PEP 562) that answers ComfyUI's names:

- ``nodes.SaveImage``, ``nodes.KSampler``...: V1-style classes wrapping the registered nodes
  (built-ins get a wrapper whose ``FUNCTION`` is ComfyUI's method name, e.g.
  ``nodes.SaveImage().save_images(images, "prefix")``; V1 plugin nodes are their own classes);
- ``nodes.NODE_CLASS_MAPPINGS`` / ``nodes.NODE_DISPLAY_NAME_MAPPINGS``: every registered node;
- ``nodes.MAX_RESOLUTION``, ``nodes.EXTENSION_WEB_DIRS`` and ``nodes.LOADED_MODULE_DIRS`` (pack
  name -> its web folder / its folder, filled as packs load);
- ComfyUI core node names that no registered node backs yet (``LoraLoader``...): a deferred class
  that looks the node up when it is used, and raises ``NotAvailableInPlexus`` if it is still absent.
"""
from __future__ import annotations

import importlib
import inspect
import sys
import types
from collections.abc import Iterator, Mapping
from typing import Any

import _plexus_binding as binding
from _unavailable import NotAvailableInPlexus

from execution.context import InterruptFlag, NodeContext, current_node
from execution.events import discard

MAX_RESOLUTION = 16384
# ComfyUI's method names for its core nodes; any other built-in is called through ``execute``.
COMFY_FUNCTIONS = {
    "SaveImage": "save_images", "PreviewImage": "save_images", "LoadImage": "load_image",
    "LoadImageMask": "load_image", "EmptyImage": "generate", "ImageScale": "upscale", "ImageScaleBy": "upscale",
    "ImageInvert": "invert", "ImageBatch": "batch", "ImageCrop": "crop", "ImageBlend": "blend_images",
    "RebatchImages": "rebatch", "EmptyLatentImage": "generate", "EmptySD3LatentImage": "generate",
    "LatentUpscale": "upscale", "SolidMask": "solid", "InvertMask": "invert",
    "CheckpointLoaderSimple": "load_checkpoint", "CLIPTextEncode": "encode", "VAEDecode": "decode",
    "VAEEncode": "encode", "VAELoader": "load_vae", "KSampler": "sample", "KSamplerAdvanced": "sample",
    "ControlNetLoader": "load_controlnet", "ControlNetApplyAdvanced": "apply_controlnet",
    "CLIPVisionLoader": "load_clip", "CLIPVisionEncode": "encode", "ConditioningZeroOut": "zero_out",
    "ModelSamplingSD3": "patch", "TripleCLIPLoader": "load_clip", "CLIPLoader": "load_clip",
    "UNETLoader": "load_unet", "LoraLoader": "load_lora", "ConditioningCombine": "combine",
    "LoraLoaderModelOnly": "load_lora_model_only", "ImageCompositeMasked": "composite",
    "ImagePadForOutpaint": "expand_image", "LatentUpscaleBy": "upscale", "BasicScheduler": "get_sigmas",
    "BetaSamplingScheduler": "get_sigmas", "SplitSigmas": "get_sigmas", "SplitSigmasDenoise": "get_sigmas",
    "FlipSigmas": "get_sigmas", "SetFirstSigma": "set_first_sigma", "KSamplerSelect": "get_sampler",
    "SamplerCustom": "sample", "SamplerCustomAdvanced": "sample", "RandomNoise": "get_noise",
    "DisableNoise": "get_noise", "CFGGuider": "get_guider", "BasicGuider": "get_guider",
    "DualCFGGuider": "get_guider", "ModelSamplingAuraFlow": "patch_aura", "MaskToImage": "mask_to_image",
    "ImageToMask": "image_to_mask", "ImageColorToMask": "image_to_mask", "ThresholdMask": "image_to_mask",
    "CropMask": "crop", "MaskComposite": "combine", "GrowMask": "expand_mask", "FeatherMask": "feather",
}
# ComfyUI's method parameter order where it differs from the input order (positional calls such
# as ``nodes.CLIPTextEncode().encode(clip, text)``); other nodes take their inputs in input order.
COMFY_ARGUMENT_ORDER = {
    "CLIPTextEncode": ("clip", "text"), "VAEDecode": ("vae", "samples"), "VAEEncode": ("vae", "pixels"),
    "VAEDecodeTiled": ("vae", "samples", "tile_size", "overlap", "temporal_size", "temporal_overlap"),
    "VAEEncodeTiled": ("vae", "pixels", "tile_size", "overlap", "temporal_size", "temporal_overlap"),
}
_wrappers = binding.node_wrappers  # node name -> (schema, wrapper class)
# ComfyUI core node names packs import from ``nodes`` that Plexus may register later (or not at all).
DEFERRED_CORE_NAMES = ("LoraLoader", "LoraLoaderModelOnly", "CLIPSetLastLayer", "ConditioningSetArea",
                       "ConditioningSetMask", "ConditioningSetTimestepRange", "ImageScaleBy", "ImagePadForOutpaint",
                       "LatentUpscaleBy", "LatentComposite", "SetLatentNoiseMask", "VAEEncodeForInpaint",
                       "LoadImageMask", "StyleModelLoader", "StyleModelApply", "unCLIPConditioning",
                       "GLIGENLoader", "DiffusersLoader", "CheckpointLoader", "ImageScaleToTotalPixels")
# ComfyUI's class attributes holding a combo's choices: attribute -> the input whose choices they are.
COMBO_CLASS_ATTRIBUTES = {"upscale_methods": "upscale_method", "crop_methods": "crop"}


def _calling_context(schema: Any) -> NodeContext:
    ctx = current_node.get()
    if ctx is not None:
        return ctx
    return NodeContext(node_id="compat", display_node_id="compat", class_type=schema.name, prompt_id="",
                       services=binding.services(), prompt={}, extra_data={}, emit=discard,
                       interrupt=InterruptFlag())


def _hidden_value(ctx: NodeContext, kind: str) -> Any:
    return {"PROMPT": ctx.prompt, "EXTRA_PNGINFO": ctx.extra_data.get("extra_pnginfo"),
            "UNIQUE_ID": ctx.node_id}.get(kind)


def _wrapper_class(schema: Any) -> type:
    """A V1-style class around a declared (built-in) node schema."""
    function_name = COMFY_FUNCTIONS.get(schema.name, "execute")

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        ctx = _calling_context(schema)
        specs = schema.inputs()
        visible = list(COMFY_ARGUMENT_ORDER.get(schema.name, ()))
        visible += [name for name, spec in specs.items() if spec.section != "hidden" and name not in visible]
        if len(args) > len(visible):
            raise TypeError(f"{schema.name}.{function_name}() takes {len(visible)} inputs, got {len(args)}")
        kwargs = {**dict(zip(visible, args)), **kwargs}
        for name, spec in specs.items():
            if name in kwargs:
                continue
            if spec.section == "hidden":
                kwargs[name] = _hidden_value(ctx, spec.type)
            elif spec.default is not None:
                kwargs[name] = spec.default
        return schema.invoke(None, ctx, kwargs)

    def input_types(cls: type) -> dict:
        return schema.object_info(binding.services())["input"]

    outputs = schema.outputs
    combos = {}
    for attribute, input_name in COMBO_CLASS_ATTRIBUTES.items():
        spec = schema.inputs().get(input_name)
        if spec is not None and spec.is_combo:
            combos[attribute] = list(spec.current_choices(binding.services()))
    attributes = {
        **combos,
        "INPUT_TYPES": classmethod(input_types),
        "RETURN_TYPES": tuple(o.type for o in outputs),
        "RETURN_NAMES": tuple(o.name for o in outputs),
        "OUTPUT_IS_LIST": tuple(o.is_list for o in outputs),
        "FUNCTION": function_name,
        "CATEGORY": schema.category,
        "DESCRIPTION": schema.description,
        "OUTPUT_NODE": schema.output_node,
        "INPUT_IS_LIST": schema.input_is_list,
        "NOT_IDEMPOTENT": schema.not_idempotent,
        function_name: call,
        "execute": call,
        "__doc__": schema.description or f"Plexus built-in node {schema.name}",
        "__module__": "nodes",
    }
    return type(schema.name, (), attributes)


def node_class(name: str) -> type | None:
    """The V1 class for a registered node name, or None."""
    schema = binding.host().registry.get(name)
    if schema is None:
        return None
    if inspect.isclass(schema.new_instance):  # a V1 plugin node: its own class
        return schema.new_instance
    cached = _wrappers.get(name)
    if cached is None or cached[0] is not schema:
        cached = _wrappers[name] = (schema, _wrapper_class(schema))
    return cached[1]


class _DeferredNode(type):
    """The metaclass of deferred classes: class attributes come from the node found at use."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._plexus_resolve(), name)


def deferred_node_class(name: str) -> type:
    """The node class ``name`` if it is registered, else a stand-in resolved when it is used."""
    try:
        cls = node_class(name)
    except binding.NotBound:
        cls = None
    if cls is not None:
        return cls

    def resolve(_cls: type | None = None) -> type:
        found = node_class(name)
        if found is None:
            raise NotAvailableInPlexus(f"nodes.{name}", "no node of that name is registered in this Plexus")
        return found

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        object.__setattr__(self, "_plexus_node", resolve()(*args, **kwargs))

    def __getattr__(self: Any, attribute: str) -> Any:
        if attribute == "_plexus_node":
            raise AttributeError(attribute)
        return getattr(self._plexus_node, attribute)

    def input_types(cls: type, *args: Any, **kwargs: Any) -> Any:
        return resolve().INPUT_TYPES(*args, **kwargs)

    return _DeferredNode(name, (), {"__init__": __init__, "__getattr__": __getattr__, "__module__": "nodes",
                                    "INPUT_TYPES": classmethod(input_types),
                                    "_plexus_resolve": classmethod(resolve),
                                    "__doc__": f"ComfyUI's {name}, resolved to Plexus's node when used"})


def run_node(name: str, **inputs: Any) -> tuple:
    """Call the registered node ``name`` the way ComfyUI code calls a node class (its outputs)."""
    cls = node_class(name)
    if cls is None:
        raise NotAvailableInPlexus(f"nodes.{name}", "no node of that name is registered in this Plexus")
    result = getattr(cls(), cls.FUNCTION)(**inputs)
    if isinstance(result, dict):
        result = result.get("result", ())
    return tuple(result)


def model_name_for_path(kind: str, path: Any) -> str:
    """The model name (relative to its folder) of a file inside one of the ``kind`` folders."""
    from pathlib import Path

    target = Path(path).resolve()
    for folder in binding.services().paths.model_folders.get(kind, []):
        try:
            return target.relative_to(Path(folder).resolve()).as_posix()
        except ValueError:
            continue
    raise FileNotFoundError(f"{path} is not inside a '{kind}' model folder; Plexus loads models by name "
                            f"from its model folders (see folder_paths.get_folder_paths({kind!r}))")


class _ClassMappings(Mapping):
    """``NODE_CLASS_MAPPINGS``: a live view of the registry."""

    def __getitem__(self, name: str) -> type:
        cls = node_class(name)
        if cls is None:
            raise KeyError(name)
        return cls

    def __iter__(self) -> Iterator[str]:
        return iter(binding.host().registry.names())

    def __len__(self) -> int:
        return len(binding.host().registry)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in binding.host().registry


class _DisplayNames(Mapping):
    def __getitem__(self, name: str) -> str:
        schema = binding.host().registry.get(name)
        if schema is None:
            raise KeyError(name)
        return schema.display_name or name

    def __iter__(self) -> Iterator[str]:
        return iter(binding.host().registry.names())

    def __len__(self) -> int:
        return len(binding.host().registry)


def comfy_name(name: str) -> Any:
    """What ``nodes.<name>`` means in ComfyUI; raises AttributeError for anything else."""
    if name == "MAX_RESOLUTION":
        return MAX_RESOLUTION
    if name == "NODE_CLASS_MAPPINGS":
        return _ClassMappings()
    if name == "NODE_DISPLAY_NAME_MAPPINGS":
        return _DisplayNames()
    if name == "EXTENSION_WEB_DIRS":
        return binding.host().extension_web_dirs
    if name == "LOADED_MODULE_DIRS":
        return binding.host().loaded_module_dirs
    if not name.startswith("_"):
        try:
            cls = node_class(name)
        except binding.NotBound:
            cls = None
        if cls is not None:
            return cls
        if name in DEFERRED_CORE_NAMES:
            return deferred_node_class(name)
    raise AttributeError(f"module 'nodes' has no attribute {name!r}")


def graft_onto_nodes_package() -> None:
    """Give Plexus's ``nodes`` package ComfyUI's names (once; keeps any ``__getattr__`` it had)."""
    try:
        package = sys.modules.get("nodes") or importlib.import_module("nodes")
    except ImportError:
        package = sys.modules["nodes"] = types.ModuleType("nodes", "ComfyUI's node classes (Plexus compat)")
    previous = package.__dict__.get("__getattr__")
    if getattr(previous, "_plexus_comfy_names", False):
        return

    def __getattr__(name: str) -> Any:
        if previous is not None:
            try:
                return previous(name)
            except AttributeError:
                pass
        return comfy_name(name)

    __getattr__._plexus_comfy_names = True  # type: ignore[attr-defined]
    package.__getattr__ = __getattr__  # type: ignore[attr-defined]
