"""ComfyUI's model API on Plexus's models: a pack node that loads a checkpoint and a LoRA state
dict and samples through comfy.sd / comfy.sample gives the same latent as Plexus's own graph
(CheckpointLoaderSimple -> LoraLoader -> CLIPTextEncode -> KSampler) on the tiny demo SD3."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models.demo.lora import KOHYA_LORA, PEFT_LORA
from models.demo.sd3 import CHECKPOINT

MODEL_PACKS = Path(__file__).resolve().parent / "model_packs"


@pytest.fixture(scope="module")
def pack_env(demo_models_dir, tmp_path_factory):
    import sys

    saved = getattr(sys.modules.get("_plexus_binding"), "_host", None)
    from execution.plugins.loader import load_custom_nodes
    from models.demo.lora import write_demo_lora
    from tests.fixtures.zoo import SD3Env, _capture_schemas

    write_demo_lora(demo_models_dir)
    env = SD3Env(tmp_path_factory.mktemp("comfy-models"), demo_models_dir)
    env.registry.add_all(_capture_schemas())
    report = load_custom_nodes(env.registry, [MODEL_PACKS], services=env.services)
    assert report.pack("comfy_sampling_pack").loaded, report.pack("comfy_sampling_pack").error
    yield env
    env.close()
    if saved is not None:  # later tests read folders through the binding this fixture replaced
        sys.modules["_plexus_binding"].install(saved)


def graph_prompt(lora: str, strength: float, seed: int) -> dict:
    return {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
            "l": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0], "clip": ["1", 1], "lora_name": lora,
                                                          "strength_model": strength, "strength_clip": strength}},
            "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["l", 1]}},
            "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["l", 1]}},
            "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
            "5": {"class_type": "KSampler", "inputs": {
                "model": ["l", 0], "seed": seed, "steps": 3, "cfg": 5.0, "sampler_name": "euler",
                "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
                "denoise": 1.0}},
            "6": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "graph"}}}


@pytest.mark.parametrize("lora", [PEFT_LORA, KOHYA_LORA])
def test_a_pack_sampling_through_comfy_modules_equals_the_graph(pack_env, lora):
    from tests.fixtures.zoo import CAPTURED

    CAPTURED.clear()
    assert pack_env.run(graph_prompt(lora, 0.7, seed=11)).status == "success"
    pack_prompt = {"p": {"class_type": "PackLoraSampler", "inputs": {
        "ckpt_name": CHECKPOINT, "lora_name": lora, "strength": 0.7, "positive": "a red fox", "negative": "",
        "seed": 11, "steps": 3}},
        "c": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["p", 0], "key": "pack"}}}
    result = pack_env.run(pack_prompt)
    assert result.status == "success", "".join((result.error or {}).get("traceback", []))
    assert torch.equal(CAPTURED["pack"]["samples"], CAPTURED["graph"]["samples"])
    progress = [e for e in pack_env.events if e.type == "progress"]
    assert [p.value for p in progress][-1] == 3  # the sampler's steps, reported on the pack's node


def test_the_lora_changes_the_result_and_the_base_model_is_untouched(pack_env):
    from tests.fixtures.zoo import CAPTURED

    CAPTURED.clear()
    assert pack_env.run(graph_prompt(PEFT_LORA, 0.0, seed=11)).status == "success"
    plain = CAPTURED["graph"]["samples"].clone()
    pack_prompt = {"p": {"class_type": "PackLoraSampler", "inputs": {
        "ckpt_name": CHECKPOINT, "lora_name": PEFT_LORA, "strength": 0.7, "positive": "a red fox", "negative": "",
        "seed": 11, "steps": 3}},
        "c": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["p", 0], "key": "pack"}}}
    assert pack_env.run(pack_prompt).status == "success"
    assert not torch.equal(CAPTURED["pack"]["samples"], plain)
    CAPTURED.clear()
    assert pack_env.run(graph_prompt(PEFT_LORA, 0.0, seed=11)).status == "success"
    assert torch.equal(CAPTURED["graph"]["samples"], plain)  # the cached base was not patched


def test_custom_sampling_through_comfy_modules_equals_sampler_custom(pack_env):
    from tests.fixtures.zoo import CAPTURED

    CAPTURED.clear()
    graph = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
             "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox", "clip": ["1", 1]}},
             "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
             "4": {"class_type": "EmptySD3LatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
             "k": {"class_type": "KSamplerSelect", "inputs": {"sampler_name": "euler"}},
             "s": {"class_type": "BasicScheduler", "inputs": {"model": ["1", 0], "scheduler": "normal", "steps": 3,
                                                               "denoise": 1.0}},
             "5": {"class_type": "SamplerCustom", "inputs": {
                 "model": ["1", 0], "add_noise": True, "noise_seed": 5, "cfg": 5.0, "positive": ["2", 0],
                 "negative": ["3", 0], "sampler": ["k", 0], "sigmas": ["s", 0], "latent_image": ["4", 0]}},
             "6": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "graph"}}}
    assert pack_env.run(graph).status == "success"
    pack_prompt = {"p": {"class_type": "PackCustomSampler", "inputs": {"ckpt_name": CHECKPOINT, "seed": 5, "steps": 3}},
                   "c": {"class_type": "TestCaptureLatent", "inputs": {"samples": ["p", 0], "key": "pack"}}}
    result = pack_env.run(pack_prompt)
    assert result.status == "success", "".join((result.error or {}).get("traceback", []))
    assert torch.equal(CAPTURED["pack"]["samples"], CAPTURED["graph"]["samples"])
