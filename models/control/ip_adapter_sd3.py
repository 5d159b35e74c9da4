"""SD3 IP-Adapters: loading the ``ip-adapter.safetensors`` layout (``image_proj.*`` and
``ip_adapter.{layer}.*``), family checks, and the model patch that adds the image tokens through
the adapter's extra attention path.

The patch never touches the cached transformer outside a sampling run: the SD3 denoiser enters
:meth:`IPAdapterPatch.apply`, which installs diffusers' ``SD3IPAdapterJointAttnProcessor2_0`` per
layer for the run and puts the originals back afterwards; at each model call
:meth:`IPAdapterPatch.joint_attention_kwargs` gives the projected image tokens (zero image
features for the unconditional rows, as diffusers does).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

SD3_FAMILY = "sd3"


class IPAdapterFormatError(ValueError):
    """An IP-Adapter file that is not an SD3 IP-Adapter Plexus can load, or that does not fit."""


@dataclass
class SD3IPAdapter:
    """A loaded SD3 IP-Adapter (the ``IPADAPTER`` socket value): the image projection (a
    time-conditioned resampler) and one attention processor per transformer layer."""

    image_proj: Any  # diffusers IPAdapterTimeImageProjection
    processors: list  # SD3IPAdapterJointAttnProcessor2_0, one per transformer layer
    name: str
    family: str = SD3_FAMILY

    @property
    def image_embed_dim(self) -> int:
        return int(self.image_proj.proj_in.weight.shape[1])

    @property
    def output_dim(self) -> int:
        return int(self.image_proj.proj_out.weight.shape[0])

    def torch_modules(self) -> list:
        return [self.image_proj, *self.processors]


def load_sd3_ip_adapter(path: str | Path, dtype: torch.dtype = torch.float32) -> SD3IPAdapter:
    """Read an SD3 IP-Adapter safetensors file (diffusers / InstantX layout)."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if path.suffix.lower() in (".bin", ".pt", ".pth", ".ckpt"):
        raise IPAdapterFormatError(
            f"{path.name}: pickle-based weights ({path.suffix}) are refused because loading them can run "
            "arbitrary code; use the .safetensors file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except (SafetensorError, OSError, ValueError) as error:
        raise IPAdapterFormatError(f"{path.name}: not a readable safetensors file ({error})") from error
    image_proj_sd = {k[len("image_proj."):]: v for k, v in tensors.items() if k.startswith("image_proj.")}
    layers_sd = {k[len("ip_adapter."):]: v for k, v in tensors.items() if k.startswith("ip_adapter.")}
    _check_family(path.name, image_proj_sd, layers_sd)
    image_proj = _build_image_proj(image_proj_sd, path.name)
    processors = _build_processors(layers_sd, path.name)
    for module in (image_proj, *processors):
        module.to(dtype).eval().requires_grad_(False)
    return SD3IPAdapter(image_proj=image_proj, processors=processors, name=path.name)


def _check_family(name: str, image_proj_sd: dict, layers_sd: dict) -> None:
    if not image_proj_sd or not layers_sd:
        raise IPAdapterFormatError(
            f"{name}: not an IP-Adapter (expected 'image_proj.*' and 'ip_adapter.*' weights)")
    if "0.norm_ip.linear.weight" not in layers_sd or "time_embedding.linear_1.weight" not in image_proj_sd:
        family = "SD1.5/SDXL" if any(k.endswith("to_k_ip.weight") for k in layers_sd) else "another model family"
        raise IPAdapterFormatError(
            f"{name}: this IP-Adapter is for {family}, not SD3 (no time-conditioned image projection or "
            "'norm_ip' layers); use an SD3/SD3.5 IP-Adapter, or load this one with UNetIPAdapterLoader for "
            "SD 1.5/SDXL models")


def _convert_instantx_keys(state_dict: dict) -> dict:
    """InstantX's original resampler names -> diffusers' (the same renames diffusers applies)."""
    converted = {}
    for key, value in state_dict.items():
        if key.startswith("layers."):
            idx = key.split(".")[1]
            for old, new in ((".0.norm1", ".ln0"), (".0.norm2", ".ln1"), (".0.to_q", ".attn.to_q"),
                             (".0.to_kv", ".attn.to_kv"), (".0.to_out", ".attn.to_out.0"),
                             (".1.0", ".adaln_norm"), (".1.1", ".ff.net.0.proj"), (".1.3", ".ff.net.2"),
                             (".2.1", ".adaln_proj")):
                key = key.replace(f"layers.{idx}{old}", f"layers.{idx}{new}")
        converted[key] = value
    return converted


def _build_image_proj(state_dict: dict, name: str) -> Any:
    from diffusers.models.embeddings import IPAdapterTimeImageProjection

    state_dict = _convert_instantx_keys(state_dict)
    try:
        hidden_dim = state_dict["proj_in.weight"].shape[0]
        module = IPAdapterTimeImageProjection(
            embed_dim=state_dict["proj_in.weight"].shape[1],
            output_dim=state_dict["proj_out.weight"].shape[0],
            hidden_dim=hidden_dim,
            heads=state_dict["layers.0.attn.to_q.weight"].shape[0] // 64,  # diffusers fixes dim_head=64
            num_queries=state_dict["latents"].shape[1],
            timestep_in_dim=state_dict["time_embedding.linear_1.weight"].shape[1],
        )
        module.load_state_dict(state_dict, strict=True)
    except (KeyError, RuntimeError) as error:
        raise IPAdapterFormatError(f"{name}: the image projection weights are not in the SD3 layout ({error})") \
            from error
    return module


def _build_processors(state_dict: dict, name: str) -> list:
    from diffusers.models.attention_processor import SD3IPAdapterJointAttnProcessor2_0

    per_layer: dict[int, dict] = {}
    for key, value in state_dict.items():
        index, rest = key.split(".", 1)
        per_layer.setdefault(int(index), {})[rest] = value
    if sorted(per_layer) != list(range(len(per_layer))):
        raise IPAdapterFormatError(f"{name}: the ip_adapter layers are not numbered 0..N-1")
    processors = []
    for index in range(len(per_layer)):
        weights = per_layer[index]
        try:
            hidden_size = weights["to_k_ip.weight"].shape[0]
            processor = SD3IPAdapterJointAttnProcessor2_0(
                hidden_size=hidden_size,
                ip_hidden_states_dim=weights["to_k_ip.weight"].shape[1],
                head_dim=weights["norm_q.weight"].shape[0],
                timesteps_emb_dim=weights["norm_ip.linear.weight"].shape[1],
            )
            processor.load_state_dict(weights, strict=True)
        except (KeyError, RuntimeError) as error:
            raise IPAdapterFormatError(f"{name}: layer {index} is not an SD3 IP-Adapter layer ({error})") from error
        processors.append(processor)
    return processors


def check_adapter_matches(adapter: SD3IPAdapter, transformer: Any) -> None:
    """Raise a clear error when the adapter cannot patch this transformer."""
    model_class = type(transformer).__name__
    if model_class != "SD3Transformer2DModel":
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' is for SD3 but the model is a {model_class}")
    config = transformer.config
    inner = int(config.num_attention_heads * config.attention_head_dim)
    layers = len(transformer.attn_processors)  # diffusers maps ip_adapter.{i} onto these, in order
    processor = adapter.processors[0]
    adapter_hidden = processor.to_k_ip.weight.shape[0]
    if len(adapter.processors) != layers or adapter_hidden != inner or adapter.output_dim != inner:
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' does not fit this SD3 model: it has {len(adapter.processors)} layers "
            f"of width {adapter_hidden}, the model has {layers} layers of width {inner} "
            "(an adapter for another SD3 variant, e.g. SD3.5 large vs medium)")


def check_image_embeds_match(adapter: SD3IPAdapter, image_embeds: torch.Tensor) -> None:
    if image_embeds.shape[-1] != adapter.image_embed_dim:
        raise IPAdapterFormatError(
            f"IP-Adapter '{adapter.name}' expects image features of width {adapter.image_embed_dim} but the "
            f"vision encoder gives {image_embeds.shape[-1]}; use the vision encoder the adapter was trained with "
            "(SigLIP so400m for the SD3.5 IP-Adapter)")


@dataclass
class IPAdapterPatch:
    """One IP-Adapter applied to a model (stored in the MODEL clone's patches)."""

    adapter: SD3IPAdapter
    image_embeds: torch.Tensor  # [B or 1, tokens, dim]: the vision encoder's penultimate hidden states
    weight: float = 1.0
    start_percent: float = 0.0
    end_percent: float = 1.0

    def torch_modules(self) -> list:
        return self.adapter.torch_modules()

    def in_range(self, sigma: float, shift: float) -> bool:
        """Whether a model call at ``sigma`` lies in ``[start_percent, end_percent]`` of sampling
        (compared in sigma space, as the SD3 denoiser does for conditioning ranges)."""
        from models.samplers import percent_to_sigma

        if self.start_percent <= 0.0 and self.end_percent >= 1.0:
            return True
        return percent_to_sigma(self.end_percent, shift) <= sigma <= percent_to_sigma(self.start_percent, shift)

    def embeds_for_rows(self, uncond_rows: list[bool], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Image features per batch row: the image's for conditional rows (cycling through the image
        batch), zeros for unconditional ones (diffusers' negative image embedding)."""
        embeds = self.image_embeds.to(device=device, dtype=dtype)
        rows, cond_seen = [], 0
        for is_uncond in uncond_rows:
            if is_uncond:
                rows.append(torch.zeros_like(embeds[0]))
            else:
                rows.append(embeds[cond_seen % embeds.shape[0]])
                cond_seen += 1
        return torch.stack(rows)

    def image_tokens(self, timestep: torch.Tensor, uncond_rows: list[bool]) -> dict:
        """The projected image tokens and their time embedding for one model call."""
        proj = self.adapter.image_proj
        param = proj.latents
        embeds = self.embeds_for_rows(uncond_rows, param.device, param.dtype)
        ip_hidden_states, ip_temb = proj(embeds, timestep.to(param.device))
        return {"ip_hidden_states": ip_hidden_states, "temb": ip_temb}

    def attention_processors(self, transformer: Any) -> dict:
        """{processor name: IP processor} for ``transformer.set_attn_processor``, at this weight."""
        names = list(transformer.attn_processors)
        for processor in self.adapter.processors:
            processor.scale = self.weight
        return dict(zip(names, self.adapter.processors))

    # -- the SD3 denoiser's patch protocol (models/sd3/denoiser.py) -----------------------------
    @contextmanager
    def apply(self, transformer: Any) -> Iterator[None]:
        """For one sampling run: the adapter's processors replace the transformer's, then the
        originals come back (the cached model is unchanged outside the run)."""
        parameter = next(transformer.parameters())
        for module in self.adapter.torch_modules():
            if next(module.parameters()).device != parameter.device:
                module.to(parameter.device)
        with swapped_processors(transformer, self.attention_processors(transformer)):
            yield

    def joint_attention_kwargs(self, step: Any) -> dict:
        """Image tokens for this call; none outside the range (the processors then compute plain
        joint attention, bit for bit)."""
        if self.weight == 0 or not self.in_range(step.sigma, step.model.shift):
            return {}
        return self.image_tokens(step.timestep, list(step.is_uncond))


@contextmanager
def swapped_processors(transformer: Any, processors: dict | None) -> Iterator[None]:
    """Install attention processors for the block (a sampling run) and restore the originals after it,
    also on error or interrupt."""
    if not processors:
        yield
        return
    original = dict(transformer.attn_processors)
    transformer.set_attn_processor({**original, **processors})
    try:
        yield
    finally:
        transformer.set_attn_processor(original)
