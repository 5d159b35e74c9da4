"""IP-Adapter loading, family checks and the patch's bookkeeping (no sampling here)."""
from __future__ import annotations

import pytest
import torch

from tests.fixtures.control import CLIP_VISION, IP_ADAPTER, IP_ADAPTER_SD15, IP_ADAPTER_WIDE


def _transformer():
    from diffusers import SD3Transformer2DModel

    from models.demo.control import DEMO_TRANSFORMER_CONFIG

    torch.manual_seed(0)
    return SD3Transformer2DModel(**DEMO_TRANSFORMER_CONFIG).eval()


def test_loads_the_diffusers_layout_like_diffusers(control_models):
    from safetensors.torch import load_file

    from models.control.ip_adapter_sd3 import load_sd3_ip_adapter

    adapter = load_sd3_ip_adapter(control_models.path("ipadapter", IP_ADAPTER))
    assert len(adapter.processors) == 2 and adapter.image_embed_dim == 32 and adapter.output_dim == 32
    transformer = _transformer()
    raw = load_file(str(control_models.path("ipadapter", IP_ADAPTER)))
    state = {"image_proj": {k[11:]: v for k, v in raw.items() if k.startswith("image_proj.")},
             "ip_adapter": {k[11:]: v for k, v in raw.items() if k.startswith("ip_adapter.")}}
    transformer._load_ip_adapter_weights(state, low_cpu_mem_usage=False)
    embeds = torch.randn(2, 17, 32, generator=torch.Generator().manual_seed(1))
    timestep = torch.tensor([900.0, 900.0])
    with torch.no_grad():
        ours = adapter.image_proj(embeds, timestep)
        theirs = transformer.image_proj(embeds, timestep)
    assert torch.equal(ours[0], theirs[0]) and torch.equal(ours[1], theirs[1])
    for ours_proc, theirs_proc in zip(adapter.processors, transformer.attn_processors.values()):
        for (name, a), (_, b) in zip(ours_proc.state_dict().items(), theirs_proc.state_dict().items()):
            assert torch.equal(a, b), name


def test_wrong_family_and_unsafe_files_are_refused(control_models, tmp_path):
    from models.control.ip_adapter_sd3 import IPAdapterFormatError, load_sd3_ip_adapter

    with pytest.raises(IPAdapterFormatError, match="SD1.5/SDXL, not SD3"):
        load_sd3_ip_adapter(control_models.path("ipadapter", IP_ADAPTER_SD15))
    pickle = tmp_path / "ip-adapter.bin"
    pickle.write_bytes(b"never read")
    with pytest.raises(IPAdapterFormatError, match="pickle"):
        load_sd3_ip_adapter(pickle)


def test_adapter_for_another_variant_is_refused_at_apply_time(control_models):
    from models.control.ip_adapter_sd3 import IPAdapterFormatError, load_sd3_ip_adapter
    from models.sd3.wrappers import SD3Model
    from models.contrastive.clip_vision import load_clip_vision
    from nodes.control.ip_adapter import apply_ip_adapter

    model = SD3Model(transformer=_transformer())
    vision = load_clip_vision(control_models.path("clip_vision", CLIP_VISION))
    image = torch.rand(1, 32, 32, 3)
    wide = load_sd3_ip_adapter(control_models.path("ipadapter", IP_ADAPTER_WIDE))
    with pytest.raises(IPAdapterFormatError, match="3 layers.*2 layers"):
        apply_ip_adapter(model, wide, 1.0, 0.0, 1.0, image=image, clip_vision=vision)
    adapter = load_sd3_ip_adapter(control_models.path("ipadapter", IP_ADAPTER))
    with pytest.raises(IPAdapterFormatError, match="for SD3"):
        apply_ip_adapter(object(), adapter, 1.0, 0.0, 1.0, image=image, clip_vision=vision)
    patched = apply_ip_adapter(model, adapter, 0.5, 0.0, 1.0, image=image, clip_vision=vision)
    assert model.patches == () and len(patched.patches) == 1, "the base MODEL is untouched"
    assert patched.transformer is model.transformer, "a cheap clone: the weights are shared"
    with pytest.raises(ValueError, match="already has an SD3 IP-Adapter"):
        apply_ip_adapter(patched, adapter, 0.5, 0.0, 1.0, image=image, clip_vision=vision)
    with pytest.raises(ValueError, match="clip_vision_output, or clip_vision and image"):
        apply_ip_adapter(model, adapter, 0.5, 0.0, 1.0)


def test_processor_swap_is_undone_after_the_call(control_models):
    from models.control.ip_adapter_sd3 import IPAdapterPatch, load_sd3_ip_adapter, swapped_processors

    transformer = _transformer()
    before = dict(transformer.attn_processors)
    keys_before = set(transformer.state_dict())
    patch = IPAdapterPatch(load_sd3_ip_adapter(control_models.path("ipadapter", IP_ADAPTER)),
                           torch.zeros(1, 16, 32), weight=0.6)
    with swapped_processors(transformer, patch.attention_processors(transformer)):
        assert all(p.scale == 0.6 for p in transformer.attn_processors.values())
    after = transformer.attn_processors
    assert all(after[name] is proc for name, proc in before.items())
    assert set(transformer.state_dict()) == keys_before


def test_unconditional_rows_get_zero_image_features():
    from models.control.ip_adapter_sd3 import IPAdapterPatch

    embeds = torch.arange(2 * 3 * 4, dtype=torch.float32).reshape(2, 3, 4) + 1
    patch = IPAdapterPatch(adapter=None, image_embeds=embeds)
    rows = patch.embeds_for_rows([True, True, False, False], torch.device("cpu"), torch.float32)
    assert torch.equal(rows[:2], torch.zeros(2, 3, 4)) and torch.equal(rows[2:], embeds)
    assert all(patch.in_range(s, 3.0) for s in (1.0, 0.5, 0.01))
    late = IPAdapterPatch(adapter=None, image_embeds=embeds, start_percent=0.5)
    boundary = 3.0 * 0.5 / (1 + 2.0 * 0.5)  # sigma at model time 0.5 with shift 3
    assert not late.in_range(0.9, 3.0) and late.in_range(boundary, 3.0) and late.in_range(0.1, 3.0)
