"""CFGNorm on the demo SD3: the graph's latent equals sampling with the formula written out here
(post-CFG in x0 space, and pre_cfg), and the patch lives on a clone: the cached base model is untouched."""
from __future__ import annotations

import contextlib

import pytest
import torch

from models.demo.sd3 import CHECKPOINT
from tests.models.sd3.test_sd3_fidelity import t2i_prompt

CFG, STEPS = 5.0, 3
KEPT: dict = {}


def _keep_schema():
    from execution.declare import In, String, node

    @node("TestKeepValue", category="_test", output_node=True, inputs=[In("value", "*"), String("key", "v")])
    def keep_value(value, key="v"):
        KEPT[key] = value
        return {"ui": {"kept": [key]}}

    return keep_value.__node_schema__


def _norm_prompt(strength: float, pre_cfg: bool) -> dict:
    prompt = t2i_prompt(CHECKPOINT, seed=7, steps=STEPS, cfg=CFG)
    prompt["8"] = {"class_type": "CFGNorm", "inputs": {"model": ["1", 0], "strength": strength, "pre_cfg": pre_cfg}}
    prompt["5"]["inputs"]["model"] = ["8", 0]
    prompt["20"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "normed"}}
    prompt["21"] = {"class_type": "TestKeepValue", "inputs": {"value": ["1", 0], "key": "model"}}
    prompt["22"] = {"class_type": "TestKeepValue", "inputs": {"value": ["2", 0], "key": "positive"}}
    prompt["23"] = {"class_type": "TestKeepValue", "inputs": {"value": ["3", 0], "key": "negative"}}
    return prompt


def _reference_formula(cond, uncond, x, sigma, strength, pre_cfg):
    combined = uncond + CFG * (cond - uncond)
    if pre_cfg:
        rescaled = combined * cond.norm(dim=1, keepdim=True) / combined.norm(dim=1, keepdim=True)
        return strength * rescaled + (1 - strength) * combined
    x0, x0_cond = x - sigma * combined, x - sigma * cond
    scale = (x0_cond.norm(dim=1, keepdim=True) / (x0.norm(dim=1, keepdim=True) + 1e-8)).clamp(0, 1)
    return (x - x0 * scale * strength) / sigma


class _ReferenceGuider:
    """Two plain (no-CFG) denoisers of the base model, combined by the formula above."""

    def __init__(self, model, positive, negative, strength, pre_cfg):
        self.model, self.parts = model, (positive, negative)
        self.strength, self.pre_cfg = strength, pre_cfg

    def denoiser(self, manager, warn=None):
        cond = self.model.denoiser(self.parts[0], None, 1.0, manager)
        uncond = self.model.denoiser(self.parts[1], None, 1.0, manager)
        guider = self

        class Reference:
            def prepare(self, shape):
                pass

            @contextlib.contextmanager
            def session(self):
                with cond.session(), uncond.session():
                    yield self

            def __call__(self, x, sigma):
                return _reference_formula(cond(x, sigma), uncond(x, sigma), x, float(sigma), guider.strength,
                                          guider.pre_cfg)

        return Reference()


@pytest.mark.parametrize("strength,pre_cfg", [(0.8, False), (0.5, True)])
def test_cfg_norm_equals_the_reference_formula(sd3_capture_env, strength, pre_cfg):
    from models.sampling import SeededNoise, ksampler_sigmas, sample_latent

    env = sd3_capture_env
    env.registry.add_all([_keep_schema()])
    result = env.run(_norm_prompt(strength, pre_cfg))
    assert result.status == "success", result.error
    base = KEPT["model"]
    assert base.patches == ()  # the loader's (cached) model: CFGNorm patched a clone
    sigmas = ksampler_sigmas(base, "normal", STEPS)
    latent = {"samples": torch.zeros(1, base.latent_channels, 8, 8)}
    expected, _ = sample_latent(_ReferenceGuider(base, KEPT["positive"], KEPT["negative"], strength, pre_cfg),
                                env.services.models, latent, SeededNoise(7), sigmas, "euler")
    normed = env.captured["normed"]["samples"]
    assert torch.allclose(normed, expected["samples"], atol=1e-5), (normed - expected["samples"]).abs().max()

    plain = t2i_prompt(CHECKPOINT, seed=7, steps=STEPS, cfg=CFG)
    plain["20"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "plain"}}
    assert env.run(plain).status == "success"
    assert (env.captured["plain"]["samples"] - normed).abs().max() > 1e-3  # the patch does change the result


def test_cfg_norm_at_cfg_1_with_strength_1_is_identity(sd3_capture_env):
    env = sd3_capture_env
    prompt = t2i_prompt(CHECKPOINT, seed=3, steps=2, cfg=1.0)
    prompt["20"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "plain"}}
    assert env.run(prompt).status == "success"
    prompt["8"] = {"class_type": "CFGNorm", "inputs": {"model": ["1", 0], "strength": 1.0}}
    prompt["5"]["inputs"]["model"] = ["8", 0]
    prompt["20"]["inputs"]["key"] = "normed"
    assert env.run(prompt).status == "success"
    assert torch.allclose(env.captured["plain"]["samples"], env.captured["normed"]["samples"], atol=1e-5)


def test_dual_cfg_guider_leaves_its_three_way_combination_alone(sd3_capture_env):
    """Guidance patches rewrite one CFG combination; DualCFGGuider's (documented) is kept as it is."""
    from tests.nodes.generation.test_custom_sampling import custom_prompt

    env = sd3_capture_env
    prompt = custom_prompt(cfg=4.0)
    prompt["11"] = {"class_type": "DualCFGGuider", "inputs": {
        "model": ["1", 0], "cond1": ["2", 0], "cond2": ["3", 0], "negative": ["3", 0], "cfg_conds": 3.0,
        "cfg_cond2_negative": 4.0, "style": "regular"}}
    prompt["20"] = {"class_type": "TestCaptureLatent", "inputs": {"samples": ["5", 0], "key": "dual"}}
    assert env.run(prompt).status == "success"
    plain = env.captured["dual"]["samples"]
    prompt["8"] = {"class_type": "CFGNorm", "inputs": {"model": ["1", 0], "strength": 0.5}}
    prompt["11"]["inputs"]["model"] = ["8", 0]
    assert env.run(prompt).status == "success"
    assert torch.equal(env.captured["dual"]["samples"], plain)
