"""Every SD3 node, through the real loaders and the runner, on the session's tiny demo models."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from models.demo.sd3 import CHECKPOINT, DIFFUSERS_FOLDER, MMDIT, TEXT_ENCODERS, VAE

ROOT = Path(__file__).resolve().parents[3]


def node_fn(env, name):
    return env.registry.get(name)


def call(env, name, ctx=None, **inputs):
    """Call a node's function directly with a real NodeContext."""
    schema = env.registry.get(name)
    result = schema.invoke(None, ctx or env.context(), inputs)
    return result["result"] if isinstance(result, dict) else result


@pytest.fixture
def parts(sd3_env):
    model, clip, vae = call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    return model, clip, vae


def encode(env, clip, text):
    return call(env, "CLIPTextEncode", text=text, clip=clip)[0]


def test_loader_combos_list_demo_files(sd3_env):
    paths = sd3_env.services.paths
    assert CHECKPOINT in paths.list_models("checkpoints")
    assert DIFFUSERS_FOLDER in paths.list_models("checkpoints")  # a diffusers folder is listed like a file
    assert MMDIT in paths.list_models("diffusion_models") and MMDIT in paths.list_models("unet")
    assert VAE in paths.list_models("vae")
    assert set(TEXT_ENCODERS.values()) <= set(paths.list_models("clip"))
    combo = [s for s in node_fn(sd3_env, "CheckpointLoaderSimple").input_provider() if s.name == "ckpt_name"][0]
    assert CHECKPOINT in combo.choices(sd3_env.services)


def test_checkpoint_loader_is_cached_by_the_manager(sd3_env, parts):
    again = call(sd3_env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
    assert again[0] is parts[0] and again[1] is parts[1]
    names = [m["name"] for m in sd3_env.services.models.loaded_models()]
    assert any(CHECKPOINT in n for n in names)
    assert all(m["bytes"] > 0 for m in sd3_env.services.models.loaded_models())


def test_separate_loaders_equal_checkpoint(sd3_env, parts):
    model, clip, vae = parts
    unet = call(sd3_env, "UNETLoader", unet_name=MMDIT, weight_dtype="default")[0]
    single_vae = call(sd3_env, "VAELoader", vae_name=VAE)[0]
    triple = call(sd3_env, "TripleCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["clip_g"],
                  clip_name3=TEXT_ENCODERS["t5xxl"])[0]
    for a, b in ((unet.transformer, model.transformer), (single_vae.vae, vae.vae)):
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    first, second = encode(sd3_env, clip, "a red cat"), encode(sd3_env, triple, "a red cat")
    assert torch.allclose(first[0][0], second[0][0], atol=1e-6)
    assert torch.allclose(first[0][1]["pooled_output"], second[0][1]["pooled_output"], atol=1e-6)


def test_dual_and_single_clip_loaders(sd3_env, parts):
    dual = call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_g"], clip_name2=TEXT_ENCODERS["clip_l"],
                type="sd3")[0]
    assert dual.clip_l is not None and dual.clip_g is not None and dual.t5xxl is None
    conditioning = encode(sd3_env, dual, "a red cat")
    embeddings = conditioning[0][0]
    full = encode(sd3_env, parts[1], "a red cat")[0][0]
    assert embeddings.shape[1] == full.shape[1]  # 77 CLIP tokens + 256 zero T5 tokens, as diffusers
    assert torch.equal(embeddings[:, :77, :48], full[:, :77, :48]) and embeddings[:, 77:].abs().max() == 0
    single = call(sd3_env, "CLIPLoader", clip_name=TEXT_ENCODERS["t5xxl"], type="sd3")[0]
    assert single.t5xxl is not None and single.clip_l is None
    t5_only = encode(sd3_env, single, "a red cat")[0]
    assert t5_only[0][:, 77:].abs().max() > 0 and t5_only[1]["pooled_output"].abs().max() == 0
    with pytest.raises(ValueError, match="type 'sd3'"):
        call(sd3_env, "CLIPLoader", clip_name=TEXT_ENCODERS["t5xxl"], type="stable_diffusion")


def test_clip_text_encode_sd3_and_empty_padding(sd3_env, parts):
    clip = parts[1]
    same = call(sd3_env, "CLIPTextEncodeSD3", clip=clip, clip_l="a cat", clip_g="a cat", t5xxl="a cat",
                empty_padding="none")[0]
    plain = encode(sd3_env, clip, "a cat")
    assert torch.equal(same[0][0], plain[0][0])
    no_t5 = call(sd3_env, "CLIPTextEncodeSD3", clip=clip, clip_l="a cat", clip_g="a dog", t5xxl="",
                 empty_padding="none")[0]
    assert no_t5[0][0][:, 77:].abs().max() == 0
    padded = call(sd3_env, "CLIPTextEncodeSD3", clip=clip, clip_l="a cat", clip_g="a dog", t5xxl="",
                  empty_padding="empty_prompt")[0]
    assert padded[0][0][:, 77:].abs().max() > 0
    assert not torch.equal(no_t5[0][0][:, :77, 16:48], plain[0][0][:, :77, 16:48])  # clip_g saw "a dog"


def test_conditioning_arithmetic(sd3_env, parts):
    a, b = encode(sd3_env, parts[1], "a cat"), encode(sd3_env, parts[1], "a dog")
    zero = call(sd3_env, "ConditioningZeroOut", conditioning=a)[0]
    assert zero[0][0].abs().max() == 0 and zero[0][1]["pooled_output"].abs().max() == 0
    assert a[0][0].abs().max() > 0  # the input was not mutated
    combined = call(sd3_env, "ConditioningCombine", conditioning_1=a, conditioning_2=b)[0]
    assert len(combined) == 2 and combined[0][0] is a[0][0]
    ranged = call(sd3_env, "ConditioningSetTimestepRange", conditioning=a, start=0.2, end=0.6)[0]
    assert ranged[0][1]["start_percent"] == 0.2 and ranged[0][1]["end_percent"] == 0.6
    assert "start_percent" not in a[0][1]
    average = call(sd3_env, "ConditioningAverage", ctx=sd3_env.context(), conditioning_to=a, conditioning_from=b,
                   conditioning_to_strength=0.25)[0]
    assert torch.allclose(average[0][0], a[0][0] * 0.25 + b[0][0] * 0.75)
    assert torch.allclose(average[0][1]["pooled_output"], a[0][1]["pooled_output"] * 0.25 + b[0][1]["pooled_output"] * 0.75)


def test_model_sampling_sd3_clones(sd3_env, parts):
    model = parts[0]
    patched = call(sd3_env, "ModelSamplingSD3", model=model, shift=6.0)[0]
    assert patched.shift == 6.0 and model.shift == 3.0
    assert patched.transformer is model.transformer and patched is not model


def _latent(seed=0, size=64):
    return {"samples": torch.zeros(1, 16, size // 8, size // 8)}


def _ksampler(env, parts, **overrides):
    model, clip = parts[0], parts[1]
    inputs = dict(model=model, seed=1, steps=3, cfg=3.0, sampler_name="euler", scheduler="simple",
                  positive=encode(env, clip, "a cat"), negative=encode(env, clip, ""), latent_image=_latent(), denoise=1.0)
    inputs.update(overrides)
    return call(env, "KSampler", **inputs)[0]["samples"]


def test_ksampler_every_sampler_and_scheduler_runs_and_seed_matters(sd3_env, parts):
    results = {}
    combos = [(s, "simple") for s in ("euler", "euler_ancestral", "heun", "dpmpp_2m", "lcm")]
    combos += [("euler", s) for s in ("sgm_uniform", "normal", "beta", "karras", "exponential")]
    for sampler, scheduler in combos:
        out = _ksampler(sd3_env, parts, sampler_name=sampler, scheduler=scheduler, steps=2)
        assert out.shape == (1, 16, 8, 8) and torch.isfinite(out).all()
        results[sampler, scheduler] = out
    assert not torch.equal(results["euler", "simple"], results["heun", "simple"])
    assert not torch.equal(_ksampler(sd3_env, parts, seed=1), _ksampler(sd3_env, parts, seed=2))
    assert torch.equal(_ksampler(sd3_env, parts, seed=5), _ksampler(sd3_env, parts, seed=5))


def test_ksampler_advanced_matches_ksampler_and_chains(sd3_env, parts):
    model, clip = parts[0], parts[1]
    pos, neg = encode(sd3_env, clip, "a cat"), encode(sd3_env, clip, "")
    common = dict(model=model, steps=4, cfg=3.0, sampler_name="euler", scheduler="simple", positive=pos, negative=neg)
    full = call(sd3_env, "KSamplerAdvanced", add_noise="enable", noise_seed=9, latent_image=_latent(),
                start_at_step=0, end_at_step=10000, return_with_leftover_noise="disable", **common)[0]["samples"]
    reference = _ksampler(sd3_env, parts, seed=9, steps=4)
    assert torch.allclose(full, reference, atol=1e-6)
    first = call(sd3_env, "KSamplerAdvanced", add_noise="enable", noise_seed=9, latent_image=_latent(),
                 start_at_step=0, end_at_step=2, return_with_leftover_noise="enable", **common)[0]
    second = call(sd3_env, "KSamplerAdvanced", add_noise="disable", noise_seed=0, latent_image=first,
                  start_at_step=2, end_at_step=10000, return_with_leftover_noise="disable", **common)[0]["samples"]
    assert torch.allclose(second, reference, atol=1e-5)
    nothing = call(sd3_env, "KSamplerAdvanced", add_noise="enable", noise_seed=9, latent_image=_latent(),
                   start_at_step=4, end_at_step=10000, return_with_leftover_noise="disable", **common)[0]["samples"]
    assert torch.equal(nothing, _latent()["samples"])


def test_ksampler_expands_an_empty_4_channel_latent_and_rejects_a_filled_one(sd3_env, parts):
    expanded = _ksampler(sd3_env, parts, latent_image={"samples": torch.zeros(1, 4, 8, 8)})
    assert torch.equal(expanded, _ksampler(sd3_env, parts, latent_image={"samples": torch.zeros(1, 16, 8, 8)}))
    with pytest.raises(ValueError, match="4 channels but this model needs 16"):
        _ksampler(sd3_env, parts, latent_image={"samples": torch.ones(1, 4, 8, 8)})


def test_denoise_zero_returns_input_and_partial_denoise_keeps_structure(sd3_env, parts):
    start = {"samples": torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0))}
    assert torch.equal(_ksampler(sd3_env, parts, latent_image=start, denoise=0.0), start["samples"])
    light = _ksampler(sd3_env, parts, latent_image=start, denoise=0.2, steps=2)
    heavy = _ksampler(sd3_env, parts, latent_image=start, denoise=1.0, steps=2)
    assert (light - start["samples"]).abs().mean() < (heavy - start["samples"]).abs().mean()


def test_vae_encode_decode_and_tiled(sd3_env, parts):
    vae = parts[2]
    pixels = torch.rand(1, 72, 80, 3, generator=torch.Generator().manual_seed(0))
    latent = call(sd3_env, "VAEEncode", pixels=pixels, vae=vae)[0]
    assert latent["samples"].shape == (1, 16, 9, 10)
    image = call(sd3_env, "VAEDecode", samples=latent, vae=vae)[0]
    assert image.shape == (1, 72, 80, 3) and 0 <= image.min() and image.max() <= 1
    tiled = call(sd3_env, "VAEDecodeTiled", samples=latent, vae=vae, tile_size=512, overlap=64)[0]
    assert torch.allclose(tiled, image, atol=1e-6)  # one tile covers it: identical
    small_tiles = call(sd3_env, "VAEDecodeTiled", samples=latent, vae=vae, tile_size=64, overlap=32)[0]
    assert small_tiles.shape == image.shape and (small_tiles - image).abs().mean() < 0.05
    tiled_latent = call(sd3_env, "VAEEncodeTiled", pixels=pixels, vae=vae, tile_size=512, overlap=64)[0]
    assert torch.allclose(tiled_latent["samples"], latent["samples"], atol=1e-6)
    small = call(sd3_env, "VAEEncodeTiled", pixels=pixels, vae=vae, tile_size=64, overlap=32)[0]["samples"]
    assert small.shape == latent["samples"].shape and torch.isfinite(small).all()


def test_missing_clip_or_vae_gives_clear_errors(sd3_env):
    with pytest.raises(RuntimeError, match="does not contain text encoders"):
        call(sd3_env, "CLIPTextEncode", text="x", clip=None)
    with pytest.raises(RuntimeError, match="VAELoader"):
        call(sd3_env, "VAEDecode", samples=_latent(), vae=None)


def test_progress_and_previews_every_step(sd3_env, parts):
    events = []
    ctx = sd3_env.context(events)
    model, clip = parts[0], parts[1]
    call(sd3_env, "KSampler", ctx=ctx, model=model, seed=1, steps=3, cfg=3.0, sampler_name="euler",
         scheduler="simple", positive=encode(sd3_env, clip, "a"), negative=encode(sd3_env, clip, ""),
         latent_image=_latent(), denoise=1.0)
    progress = [e for e in events if e.type == "progress"]
    assert [e.value for e in progress] == [1, 2, 3] and all(e.max == 3 for e in progress)
    assert all(e.preview is not None and e.preview.size == (8, 8) for e in progress)
    sd3_env.services.preview_method = "none"
    events.clear()
    call(sd3_env, "KSampler", ctx=ctx, model=model, seed=1, steps=2, cfg=3.0, sampler_name="euler",
         scheduler="simple", positive=encode(sd3_env, clip, "a"), negative=encode(sd3_env, clip, ""),
         latent_image=_latent(), denoise=1.0)
    assert [e.preview for e in events if e.type == "progress"] == [None, None]


def test_editor_workflow_runs_headless(sd3_env):
    from execution.workflow import load_any

    workflow = json.loads((ROOT / "workflows" / "sd3_text_to_image.json").read_text())
    prompt, _, warnings = load_any(workflow, sd3_env.registry)
    api = json.loads((ROOT / "workflows" / "sd3_text_to_image_api.json").read_text())
    assert {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()} == \
        {k: (v["class_type"], v["inputs"]) for k, v in api.items()}
    prompt["5"]["inputs"]["steps"] = 2
    prompt["4"]["inputs"].update(width=64, height=64)
    result = sd3_env.run(prompt)
    assert result.status == "success", result.error
    saved = result.outputs["7"]["images"][0]
    assert (sd3_env.services.paths.output_dir / saved["subfolder"] / saved["filename"]).is_file()


def test_interrupt_mid_sampling(sd3_env):
    from execution.events import Progress

    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["1", 1]}},
        "3": {"class_type": "ConditioningZeroOut", "inputs": {"conditioning": ["2", 0]}},
        "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "seed": 0, "steps": 6, "cfg": 2.0,
                                                   "sampler_name": "euler", "scheduler": "simple", "positive": ["2", 0],
                                                   "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "PreviewImage", "inputs": {"images": ["6", 0]}},
    }

    def on_event(event):
        if isinstance(event, Progress) and event.node == "5" and event.value == 2:
            sd3_env.runner.interrupt.set()

    sd3_env.on_event = on_event
    result = sd3_env.run(prompt)
    sd3_env.runner.interrupt.clear()
    assert result.status == "interrupted"
    steps = [e.value for e in sd3_env.events if isinstance(e, Progress) and e.node == "5"]
    assert steps == [1, 2]
    assert "6" not in result.executed and "5" not in result.executed


def test_noise_mask_keeps_the_unmasked_latent(sd3_env, parts):
    start = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(1))
    kept = _ksampler(sd3_env, parts, latent_image={"samples": start, "noise_mask": torch.zeros(1, 64, 64)}, steps=2)
    assert torch.allclose(kept, start, atol=1e-6)
    mask = torch.zeros(1, 64, 64)
    mask[:, :, 32:] = 1.0
    half = _ksampler(sd3_env, parts, latent_image={"samples": start, "noise_mask": mask}, steps=2)
    assert torch.allclose(half[..., :3], start[..., :3], atol=1e-6)
    assert (half[..., 5:] - start[..., 5:]).abs().mean() > 0.1


def test_clip_loader_device_cpu_encodes_the_same(sd3_env, parts):
    on_cpu = call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["clip_g"],
                  type="sd3", device="cpu")[0]
    default = call(sd3_env, "DualCLIPLoader", clip_name1=TEXT_ENCODERS["clip_l"], clip_name2=TEXT_ENCODERS["clip_g"],
                   type="sd3")[0]
    assert on_cpu.run_on_cpu and not default.run_on_cpu and on_cpu.clip_l.model is default.clip_l.model
    assert torch.equal(encode(sd3_env, on_cpu, "a cat")[0][0], encode(sd3_env, default, "a cat")[0][0])


def test_models_from_extra_model_paths(tmp_path, demo_models_dir):
    """A ComfyUI-style extra_model_paths.yaml pointing at another models folder feeds the loaders."""
    from tests.fixtures.zoo import SD3Env

    env = SD3Env(tmp_path / "plexus", tmp_path / "empty-models")
    config = tmp_path / "extra_model_paths.yaml"
    config.write_text(f"comfyui:\n  base_path: {demo_models_dir}\n  checkpoints: checkpoints\n"
                      f"  text_encoders: text_encoders\n")
    env.services.paths.load_extra_model_paths(config)
    try:
        assert CHECKPOINT in env.services.paths.list_models("checkpoints")
        model, clip, vae = call(env, "CheckpointLoaderSimple", ckpt_name=CHECKPOINT)
        assert model.transformer is not None and clip is not None and vae is not None
    finally:
        env.close()


def test_unet_loader_fp8_weights(sd3_env, parts):
    fp8 = call(sd3_env, "UNETLoader", unet_name=MMDIT, weight_dtype="fp8_e4m3fn")[0]
    default = call(sd3_env, "UNETLoader", unet_name=MMDIT, weight_dtype="default")[0]
    assert fp8.transformer is not default.transformer  # a separate cached copy
    assert torch.float8_e4m3fn in {p.dtype for p in fp8.transformer.parameters()}
    assert all(p.dtype == torch.float32 for p in default.transformer.parameters())
    low, full = _ksampler(sd3_env, (fp8, parts[1]), steps=2), _ksampler(sd3_env, (default, parts[1]), steps=2)
    assert torch.isfinite(low).all() and (low - full).abs().mean() < 0.1 * full.abs().mean()
