"""Model files: pickles refused, corrupt/unknown files named in clear errors, config picking by
shapes (shipped families and inference), and the original <-> diffusers key layouts."""
from __future__ import annotations

import shutil

import pytest
import torch

from models.sd3 import configs as sd3_configs
from models.demo.sd3 import CHECKPOINT, VAE, build_tiny_sd3
from models.sd3.files import ModelFileError
from models.sd3.layout import transformer_from_diffusers, transformer_to_diffusers, vae_from_diffusers, vae_to_diffusers
from models.sd3.loading import load_checkpoint, load_diffusion_model, load_text_encoders, load_vae


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin", ".pth"])
def test_pickles_are_refused_without_reading(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"\x80\x04this would be unpickled")
    for loader in (load_checkpoint, load_diffusion_model, load_vae):
        with pytest.raises(ModelFileError, match=rf"model\{suffix}: refusing .*pickle.*arbitrary code"):
            loader(path, torch.float32)
    with pytest.raises(ModelFileError, match="pickle"):
        load_text_encoders([path], torch.float32)


def test_corrupt_and_truncated_files_are_named(tmp_path, demo_models_dir):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(ModelFileError, match="garbage.safetensors: not a valid safetensors file"):
        load_checkpoint(garbage, torch.float32)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty.safetensors: file is empty or truncated"):
        load_vae(empty, torch.float32)
    source = demo_models_dir / "checkpoints" / CHECKPOINT
    truncated = tmp_path / "half.safetensors"
    truncated.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="half.safetensors: .*past the end of the file.*incomplete"):
        load_checkpoint(truncated, torch.float32)


def test_unknown_content_is_named_with_what_was_expected(tmp_path, demo_models_dir):
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"foo.weight": torch.zeros(2, 2)}, str(other))
    with pytest.raises(ModelFileError, match="other.safetensors: not an SD3 checkpoint; expected tensors under"):
        load_checkpoint(other, torch.float32)
    with pytest.raises(ModelFileError, match="other.safetensors: not an SD3 diffusion model"):
        load_diffusion_model(other, torch.float32)
    with pytest.raises(ModelFileError, match="other.safetensors: not a CLIP or T5 text encoder"):
        load_text_encoders([other], torch.float32)
    vae_file = demo_models_dir / "vae" / VAE
    with pytest.raises(ModelFileError, match=f"{VAE}: not an SD3 diffusion model"):
        load_diffusion_model(vae_file, torch.float32)
    with pytest.raises(ModelFileError, match="notes.txt: unsupported model format"):
        (tmp_path / "notes.txt").write_text("hi")
        load_vae(tmp_path / "notes.txt", torch.float32)


def test_loader_node_reports_the_file_error(sd3_env, tmp_path):
    bad = sd3_env.services.paths.model_folders["checkpoints"][0] / "zz-broken-test.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken}")
    try:
        prompt = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": bad.name}},
                  "2": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["1", 2]}},
                  "3": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
                  "4": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}}}
        result = sd3_env.run(prompt)
        assert result.status == "error" and result.error["node_id"] == "1"
        assert "zz-broken-test.safetensors" in result.error["exception_message"]
    finally:
        bad.unlink()


def _meta_transformer_shapes(config: dict) -> dict:
    from accelerate import init_empty_weights
    from diffusers import SD3Transformer2DModel

    with init_empty_weights():
        model = SD3Transformer2DModel.from_config(config)
    return sd3_configs.shapes_of(transformer_from_diffusers(dict(model.state_dict())))


@pytest.mark.parametrize("family", sd3_configs.FAMILIES)
def test_shipped_family_configs_are_picked_by_shapes(family):
    shapes = _meta_transformer_shapes(sd3_configs.family_config(family)["transformer"])
    picked, config = sd3_configs.pick_transformer_config(shapes)
    assert picked == family and config == sd3_configs.family_config(family)["transformer"]


def test_other_shapes_get_an_inferred_config():
    tiny = dict(sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=3, attention_head_dim=8,
                num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=48,
                pos_embed_max_size=32, qk_norm="rms_norm", dual_attention_layers=[0, 1])
    picked, config = sd3_configs.pick_transformer_config(_meta_transformer_shapes(tiny))
    assert picked == "inferred"
    for key in ("num_layers", "attention_head_dim", "num_attention_heads", "joint_attention_dim",
                "caption_projection_dim", "pooled_projection_dim", "pos_embed_max_size", "qk_norm",
                "dual_attention_layers", "patch_size", "in_channels", "out_channels"):
        assert config[key] == tiny[key], key


def test_standard_text_encoder_widths_use_shipped_configs():
    from accelerate import init_empty_weights
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    family = sd3_configs.family_config("sd35_large")
    for role in ("clip_l", "clip_g"):
        with init_empty_weights():
            model = CLIPTextModelWithProjection(CLIPTextConfig(**family[role]))
        shapes = sd3_configs.shapes_of(model.state_dict())
        assert sd3_configs.role_of_clip(shapes) == role
        assert sd3_configs.infer_clip_config(shapes, role) == family[role]
    with init_empty_weights():
        t5 = T5EncoderModel(T5Config(**family["t5xxl"]))
    inferred = sd3_configs.infer_t5_config(sd3_configs.shapes_of(t5.state_dict()))
    assert {k: inferred[k] for k in ("d_model", "d_kv", "d_ff", "num_layers", "num_heads", "vocab_size")} == \
        {k: family["t5xxl"][k] for k in ("d_model", "d_kv", "d_ff", "num_layers", "num_heads", "vocab_size")}


def test_layout_round_trips_exactly():
    """Our diffusers->original writer is the exact inverse of diffusers' own original->diffusers loader,
    including SD3.5 options (qk-norm, dual attention)."""
    from diffusers import SD3Transformer2DModel

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2,
                                        attention_head_dim=8, num_attention_heads=4, joint_attention_dim=64,
                                        caption_projection_dim=32, pooled_projection_dim=48, pos_embed_max_size=32,
                                        qk_norm="rms_norm", dual_attention_layers=(0,))
    state = transformer.state_dict()
    back = transformer_to_diffusers(transformer_from_diffusers(dict(state)))
    assert set(back) == set(state) and all(torch.equal(back[k], state[k]) for k in state)
    vae = build_tiny_sd3()["vae"]
    vae_state = vae.state_dict()
    vae_back = vae_to_diffusers(vae_from_diffusers(dict(vae_state), 4), dict(vae.config))
    assert set(vae_back) == set(vae_state) and all(torch.equal(vae_back[k], vae_state[k]) for k in vae_state)


def test_checkpoint_without_text_encoders(tmp_path, demo_models_dir):
    from models.demo.sd3 import write_checkpoint

    path = write_checkpoint(build_tiny_sd3(), tmp_path / "no-clip.safetensors", text_encoders=False)
    model, clip, vae = load_checkpoint(path, torch.float32)
    assert clip is None and vae is not None and model.transformer.config.num_layers == 2
    full_model = load_checkpoint(demo_models_dir / "checkpoints" / CHECKPOINT, torch.float32)[0]
    assert all(torch.equal(a, b) for a, b in zip(model.transformer.state_dict().values(),
                                                 full_model.transformer.state_dict().values()))


def test_diffusers_folder_without_model_index_is_explained(tmp_path, demo_models_dir):
    from models.demo.sd3 import DIFFUSERS_FOLDER

    copy = tmp_path / "broken-pipeline"
    shutil.copytree(demo_models_dir / "checkpoints" / DIFFUSERS_FOLDER / "vae", copy / "vae")
    (copy / "model_index.json").write_text("{}")
    with pytest.raises(ModelFileError, match="broken-pipeline: not an SD3 diffusers folder"):
        load_checkpoint(copy, torch.float32)


def test_single_files_in_diffusers_layout(tmp_path):
    from safetensors.torch import save_file

    components = build_tiny_sd3()
    transformer_file, vae_file = tmp_path / "mmdit-diffusers.safetensors", tmp_path / "vae-diffusers.safetensors"
    save_file({k: v.contiguous() for k, v in components["transformer"].state_dict().items()}, str(transformer_file),
              metadata={"plexus.config": '{"transformer": {"attention_head_dim": 8}}'})
    save_file({k: v.contiguous() for k, v in components["vae"].state_dict().items()}, str(vae_file),
              metadata={"plexus.config": '{"vae": {"norm_num_groups": 4}}'})
    model = load_diffusion_model(transformer_file, torch.float32)
    vae = load_vae(vae_file, torch.float32)
    for loaded, original in ((model.transformer, components["transformer"]), (vae.vae, components["vae"])):
        reference = original.state_dict()
        assert all(torch.equal(v, reference[k]) for k, v in loaded.state_dict().items())


def test_tokenizers_found_in_folders_when_not_embedded(tmp_path):
    """Files without embedded tokenizers (real downloads) use tokenizer folders; without any, the
    error says where to put them."""
    from safetensors.torch import save_file

    from models.demo.sd3 import _encoder_state

    components = build_tiny_sd3()
    encoders = tmp_path / "text_encoders"
    encoders.mkdir()
    clip_file = encoders / "clip_l.safetensors"
    save_file(_encoder_state(components["text_encoder"]), str(clip_file),
              metadata={"plexus.config": '{"clip_l": {"num_attention_heads": 2, "hidden_act": "quick_gelu"}}'})
    with pytest.raises(ModelFileError, match="no tokenizer found for the clip_l .*models/text_encoders/tokenizers/clip_l"):
        load_text_encoders([clip_file], torch.float32, [encoders])
    components["tokenizer"].save_pretrained(str(encoders / "tokenizers" / "clip_l"))
    clip = load_text_encoders([clip_file], torch.float32, [encoders])
    assert clip.clip_l is not None and clip.clip_l.model.config.num_attention_heads == 2
    ids = clip.clip_l.tokenizer("a photo of a cat").input_ids
    assert ids == components["tokenizer"]("a photo of a cat").input_ids


def test_tokenizers_of_a_comfyui_install_are_used(tmp_path):
    from safetensors.torch import save_file

    from models.demo.sd3 import _encoder_state
    from models.sd3.loading import find_tokenizer

    components = build_tiny_sd3()
    comfy_root = tmp_path / "ComfyUI"
    components["tokenizer"].save_pretrained(str(comfy_root / "comfy" / "sd1_tokenizer"))
    components["tokenizer_3"].save_pretrained(str(comfy_root / "comfy" / "text_encoders" / "t5_tokenizer"))
    assert find_tokenizer("clip_g", {}, [comfy_root]).convert_tokens_to_ids("<|endoftext|>") == \
        components["tokenizer"].convert_tokens_to_ids("<|endoftext|>")
    t5_file = tmp_path / "t5xxl.safetensors"
    save_file(_encoder_state(components["text_encoder_3"]), str(t5_file))
    clip = load_text_encoders([t5_file], torch.float32, [comfy_root])
    assert clip.t5xxl.tokenizer("a cat").input_ids == components["tokenizer_3"]("a cat").input_ids
