"""IP-Adapters for SD 1.x and SDXL U-Nets in the original format (h94/IP-Adapter, as ComfyUI keeps
them in ``models/ipadapter/``): ``image_proj.*`` is the image projection and
``ip_adapter.{n}.to_k_ip`` / ``to_v_ip`` are the extra key/value layers, with n = 1, 3, 5, ...: the
odd slots of the U-Net's attention processors in order, which are its cross-attention layers.

Kinds (read from ``image_proj``): ``ip-adapter`` (ImageProjection on the CLIP image embeds, 4 tokens),
``plus`` (the Resampler on the penultimate hidden states) and ``full-face`` (an MLP on the
penultimate hidden states). The image projection is built by diffusers' own converter; FaceID files
are refused (they need InsightFace face embeddings).

Applied as :class:`UNetIPAdapterPatch` on a MODEL clone: during one sampling run the U-Net's
cross-attention processors are diffusers' ``IPAdapterAttnProcessor2_0`` sharing the adapter's layers,
and the U-Net gets ``(text, [image tokens per adapter])`` as its context, as ``load_ip_adapter`` does;
afterwards the original processors come back, so the cached base U-Net is unchanged.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch

from models.control.ip_adapter_sd3 import IPAdapterFormatError

KINDS = ("ip-adapter", "plus", "full-face")
TOKENS_OF_PLAIN_ADAPTER = 4
_VARIANT_NAMES = {"sd15": "SD 1.5", "sdxl_base": "SDXL", "sdxl_refiner": "the SDXL refiner"}
_KNOWN_LAYOUTS = {(16, 768): "SD 1.5", (70, 2048): "SDXL"}  # (cross-attention layers, context width)


@dataclass
class UNetIPAdapter:
    """A loaded SD 1.x / SDXL IP-Adapter (the ``IPADAPTER`` socket value)."""

    name: str
    kind: str  # one of KINDS
    image_proj: Any  # diffusers ImageProjection / IPAdapterPlusImageProjection / IPAdapterFullImageProjection
    to_k_ip: torch.nn.ModuleList  # one Linear(context -> inner) per cross-attention layer, in the U-Net's order
    to_v_ip: torch.nn.ModuleList
    family: str = "stable_diffusion"

    @property
    def uses_hidden_states(self) -> bool:
        """Plus and full-face read the vision tower's penultimate hidden states, the plain kind its image embeds."""
        return self.kind != "ip-adapter"

    @property
    def num_tokens(self) -> int:
        if self.kind == "plus":
            return int(self.image_proj.latents.shape[1])
        return TOKENS_OF_PLAIN_ADAPTER if self.kind == "ip-adapter" else 257

    @property
    def context_width(self) -> int:
        return int(self.to_k_ip[0].in_features)

    @property
    def image_embed_width(self) -> int:
        first = next(m for m in self.image_proj.modules() if isinstance(m, torch.nn.Linear))
        return int(first.in_features)

    def layout_name(self) -> str:
        layers = len(self.to_k_ip)
        return _KNOWN_LAYOUTS.get((layers, self.context_width), f"a U-Net with {layers} cross-attention layers")

    def torch_modules(self) -> list:
        return [self.image_proj, self.to_k_ip, self.to_v_ip]


# -- loading ----------------------------------------------------------------------------------
def load_unet_ip_adapter(path: str | Path, dtype: torch.dtype = torch.float32) -> UNetIPAdapter:
    """Read an original-format SD 1.x / SDXL IP-Adapter safetensors file."""
    path = Path(path)
    tensors = _read_tensors(path)
    image_proj_sd = {k[len("image_proj."):]: v for k, v in tensors.items() if k.startswith("image_proj.")}
    layers_sd = {k[len("ip_adapter."):]: v for k, v in tensors.items() if k.startswith("ip_adapter.")}
    kind = _kind_of(path.name, image_proj_sd, layers_sd)
    image_proj = _image_projection(image_proj_sd, path.name)
    to_k_ip, to_v_ip = _key_value_layers(layers_sd, path.name)
    for module in (image_proj, to_k_ip, to_v_ip):
        module.to(dtype).eval().requires_grad_(False)
    return UNetIPAdapter(name=path.name, kind=kind, image_proj=image_proj, to_k_ip=to_k_ip, to_v_ip=to_v_ip)


def _read_tensors(path: Path) -> dict:
    from safetensors import SafetensorError, safe_open

    from models.pickle_guard import PICKLE_SUFFIXES

    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise IPAdapterFormatError(
            f"{path.name}: pickle-based weights ({path.suffix}) are refused because loading them can run "
            "arbitrary code; use the .safetensors file (h94/IP-Adapter ships both)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise IPAdapterFormatError(f"{path.name}: not a readable safetensors file ({error})") from error


def _kind_of(name: str, image_proj_sd: dict, layers_sd: dict) -> str:
    if not image_proj_sd or not layers_sd:
        raise IPAdapterFormatError(f"{name}: not an IP-Adapter (expected 'image_proj.*' and 'ip_adapter.*' weights)")
    if "0.norm_ip.linear.weight" in layers_sd or "time_embedding.linear_1.weight" in image_proj_sd:
        raise IPAdapterFormatError(f"{name}: this is an SD3/SD3.5 IP-Adapter; load it with SD3IPAdapterLoader")
    if "perceiver_resampler.proj_in.weight" in image_proj_sd or any("lora" in k for k in layers_sd) or (
            "norm.weight" in image_proj_sd and "proj.weight" not in image_proj_sd and "proj.3.weight" not in image_proj_sd):
        raise IPAdapterFormatError(f"{name}: IP-Adapter FaceID models need InsightFace face embeddings, which "
                                   "Plexus does not provide; use ip-adapter, plus or full-face files")
    if "proj.weight" in image_proj_sd:
        return "ip-adapter"
    if "proj.3.weight" in image_proj_sd:
        return "full-face"
    if "latents" in image_proj_sd:
        return "plus"
    raise IPAdapterFormatError(f"{name}: unknown image projection (keys {sorted(image_proj_sd)[:4]})")


def _image_projection(state_dict: dict, name: str) -> Any:
    from diffusers.loaders.unet import UNet2DConditionLoadersMixin

    # diffusers' converter reads nothing from the U-Net it is a method of unless low_cpu_mem_usage is
    # set; calling it here keeps its key renames (and its Resampler sizes) the single source of truth.
    try:
        return UNet2DConditionLoadersMixin._convert_ip_adapter_image_proj_to_diffusers(
            None, state_dict, low_cpu_mem_usage=False)
    except (KeyError, RuntimeError, IndexError) as error:
        raise IPAdapterFormatError(f"{name}: the image projection does not load ({error})") from error


def _key_value_layers(state_dict: dict, name: str) -> tuple[torch.nn.ModuleList, torch.nn.ModuleList]:
    slots = sorted({int(key.split(".", 1)[0]) for key in state_dict})
    if slots != list(range(1, 2 * len(slots), 2)):
        raise IPAdapterFormatError(f"{name}: the ip_adapter layers are not numbered 1, 3, 5, ... (found {slots[:6]})")
    keys, values = torch.nn.ModuleList(), torch.nn.ModuleList()
    for slot in slots:
        for target, weight_name in ((keys, f"{slot}.to_k_ip.weight"), (values, f"{slot}.to_v_ip.weight")):
            weight = state_dict.get(weight_name)
            if weight is None or weight.dim() != 2:
                raise IPAdapterFormatError(f"{name}: missing or malformed '{weight_name}'")
            layer = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False, device="meta")
            layer.weight = torch.nn.Parameter(weight, requires_grad=False)
            target.append(layer)
    return keys, values


# -- fitting a U-Net --------------------------------------------------------------------------
def cross_attention_layers(unet: Any) -> list[tuple[str, Any]]:
    """(name, Attention module) of each cross-attention layer, in the order of the file's
    ``ip_adapter.{1,3,5,...}`` slots: diffusers' ``_convert_ip_adapter_attn_to_diffusers`` rule over
    ``unet.attn_processors``, whose order is this module walk's."""
    return [(name, module) for name, module in unet.named_modules()
            if hasattr(module, "get_processor") and not name.endswith("attn1") and "motion_modules" not in name]


def check_adapter_fits(adapter: UNetIPAdapter, model: Any) -> None:
    """Raise a clear error when the adapter was made for another model (family or variant)."""
    unet = getattr(model, "unet", None)
    if getattr(model, "family", None) != "stable_diffusion" or unet is None:
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' is for SD 1.5 / SDXL U-Nets, but the MODEL is a {type(model).__name__} "
            f"({getattr(model, 'family', 'unknown family')}); SD3 models take SD3IPAdapterApply")
    layers = cross_attention_layers(unet)
    model_name = _VARIANT_NAMES.get(getattr(model, "variant", ""), "this U-Net")
    context = int(unet.config.cross_attention_dim) if layers else 0
    widths = [int(attention.to_k.out_features) for _, attention in layers]
    adapter_widths = [int(layer.out_features) for layer in adapter.to_k_ip]
    if len(layers) != len(adapter.to_k_ip) or context != adapter.context_width or widths != adapter_widths:
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' is for {adapter.layout_name()} ({len(adapter.to_k_ip)} cross-attention "
            f"layers, context width {adapter.context_width}) but the model is {model_name} ({len(layers)} layers, "
            f"context width {context}); use an IP-Adapter made for this model family")


def check_image_features(adapter: UNetIPAdapter, features: torch.Tensor, vision_name: str) -> None:
    if features.shape[-1] != adapter.image_embed_width:
        what = "penultimate hidden states" if adapter.uses_hidden_states else "image embeds"
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' expects CLIP vision {what} of width {adapter.image_embed_width}, but "
            f"'{vision_name}' gives {features.shape[-1]}; use the image encoder the adapter was trained with "
            "(ViT-H for most SD 1.5 and '_vit-h' SDXL adapters, ViT-bigG for ip-adapter_sdxl)")


# -- the image prompt -------------------------------------------------------------------------
def encode_image_prompt(clip_vision: Any, adapter: UNetIPAdapter, image: Any, crop: str = "center",
                        negative_image: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(conditional, unconditional) image features for the adapter's projection, one row per image.

    The unconditional features follow the original IP-Adapter and diffusers: zeros for the plain kind,
    the encoder's output for an all-zero (normalised) input for plus and full-face; ``negative_image``
    replaces them with that image's features."""
    def features(output: Any) -> torch.Tensor:
        return output.penultimate_hidden_states if adapter.uses_hidden_states else output.image_embeds

    encoded = clip_vision.encode(image, crop)
    positive = features(encoded)
    check_image_features(adapter, positive, getattr(clip_vision, "name", "the CLIP vision model"))
    if negative_image is not None:
        negative = features(clip_vision.encode(negative_image, crop))
        if negative.shape[0] not in (1, positive.shape[0]):
            raise ValueError(f"image_negative has {negative.shape[0]} images; give 1 or as many as image "
                             f"({positive.shape[0]})")
        negative = negative.expand_as(positive)
    elif adapter.uses_hidden_states:
        negative = features(clip_vision.encode_pixel_values(torch.zeros_like(encoded.pixel_values)))
    else:
        negative = torch.zeros_like(positive)
    return positive, negative


@dataclass(frozen=True, eq=False)
class ImagePrompt:
    """One adapter with its image features, weight and sampling range."""

    adapter: UNetIPAdapter
    positive: torch.Tensor  # [images, ...]: what the adapter's projection takes
    negative: torch.Tensor
    weight: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0
    mask: torch.Tensor | None = None  # [1, images, H, W]: where the image prompt acts (diffusers' ip_adapter_masks)


def attention_mask_for(mask: torch.Tensor | None, images: int) -> torch.Tensor | None:
    """A MASK ([H, W] or [B, H, W]; one for all images or one per image) as diffusers' ``ip_adapter_masks``
    entry [1, images, H, W]; the processor scales it down to each layer's resolution."""
    if mask is None:
        return None
    mask = mask.float()
    mask = mask[None] if mask.dim() == 2 else mask
    if mask.dim() != 3 or mask.shape[0] not in (1, images):
        raise ValueError(f"attn_mask must be one mask or one per image ({images}), got shape {tuple(mask.shape)}")
    return mask.expand(images, *mask.shape[1:])[None]


@dataclass(eq=False)
class UNetIPAdapterPatch:
    """Every IP-Adapter applied to one MODEL clone (chained apply nodes add to one patch, since one
    ``IPAdapterAttnProcessor2_0`` per layer serves all of them)."""

    prompts: tuple[ImagePrompt, ...]
    _processors: list | None = field(default=None, repr=False)
    _tokens: list | None = field(default=None, repr=False)

    def with_prompt(self, prompt: ImagePrompt) -> "UNetIPAdapterPatch":
        return UNetIPAdapterPatch(prompts=self.prompts + (prompt,))

    def torch_modules(self) -> list:
        adapters = {id(p.adapter): p.adapter for p in self.prompts}
        return [module for adapter in adapters.values() for module in adapter.torch_modules()]

    def _build_processors(self, unet: Any) -> list[tuple[Any, Any]]:
        """(Attention module, IP processor) per cross-attention layer, built once per patch."""
        from diffusers.models.attention_processor import IPAdapterAttnProcessor2_0

        processors = []
        for index, (_, attention) in enumerate(cross_attention_layers(unet)):
            # built empty, then given the adapters' own layers: no weight is allocated or copied
            processor = IPAdapterAttnProcessor2_0(hidden_size=attention.to_k.out_features,
                                                  cross_attention_dim=attention.to_k.in_features, num_tokens=[], scale=[])
            processor.num_tokens = [p.adapter.num_tokens for p in self.prompts]
            processor.scale = [p.weight for p in self.prompts]
            processor.to_k_ip = torch.nn.ModuleList([p.adapter.to_k_ip[index] for p in self.prompts])
            processor.to_v_ip = torch.nn.ModuleList([p.adapter.to_v_ip[index] for p in self.prompts])
            processors.append((attention, processor))
        return processors

    # -- the U-Net denoiser's patch protocol (models/stable_diffusion/denoiser.py) -----------------
    @contextmanager
    def apply(self, unet: Any) -> Iterator[None]:
        """For one sampling run: the adapter processors replace the U-Net's cross-attention ones and
        the image tokens are projected once; the originals come back afterwards (also on error)."""
        from models.sd3.denoiser import compute_dtype

        parameter = next(unet.parameters())
        dtype = compute_dtype(unet)
        for module in self.torch_modules():
            first = next(module.parameters())
            if first.device != parameter.device or first.dtype != dtype:
                module.to(parameter.device, dtype)
        if self._processors is None:
            self._processors = self._build_processors(unet)
        with torch.inference_mode():
            self._tokens = [(_projected(p.adapter, p.positive, parameter.device, dtype),
                             _projected(p.adapter, p.negative, parameter.device, dtype)) for p in self.prompts]
        originals = [(attention, attention.get_processor()) for attention, _ in self._processors]
        try:
            for attention, processor in self._processors:
                attention.set_processor(processor)
            yield
        finally:
            for attention, original in originals:
                attention.set_processor(original)
            self._tokens = None

    def unet_context(self, step: Any, text_context: torch.Tensor) -> tuple:
        """The U-Net's ``encoder_hidden_states`` for this call: the text and one image-token tensor per
        adapter (unconditional rows get the negative tokens); an adapter outside its range gets scale 0,
        which the processor skips."""
        from models.sd3.denoiser import _in_range

        scales = [p.weight if _in_range(p, step.percent, step.model, step.sigma) else 0.0 for p in self.prompts]
        for _, processor in self._processors:
            processor.scale = scales
        tokens = [torch.cat([negative if is_uncond else positive for is_uncond in step.is_uncond])
                  for positive, negative in self._tokens]
        return text_context, tokens

    def cross_attention_kwargs(self, step: Any) -> dict:
        """The attention masks, when any adapter has one (the processors take them per adapter)."""
        if all(p.mask is None for p in self.prompts):
            return {}
        return {"ip_adapter_masks": [None if p.mask is None else p.mask.to(step.x.device, step.x.dtype)
                                     for p in self.prompts]}


def _projected(adapter: UNetIPAdapter, features: torch.Tensor, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """[1, images, tokens, context], as diffusers gives several images of one adapter: unmasked, the
    processor attends to all their tokens at once; masked, to each image's under its mask."""
    return adapter.image_proj(features.to(device, dtype))[None]
