"""ComfyUI's custom-sampling nodes: a sampler run built from SAMPLER, SIGMAS, NOISE and GUIDER
values. They share KSampler's procedure (``models/sampling.py``), so the same settings give the
same pixels. No torch import at module level.
"""
from __future__ import annotations

from execution.declare import INT_MAX, Boolean, Combo, Float, In, Int, Out, String, node
from nodes.generation.sampling import SAMPLER_NAMES, SCHEDULER_NAMES, progress_reporter

CATEGORY = "sampling/custom_sampling"
CFG = dict(min=0.0, max=100.0, step=0.1, round=0.01)


def _run(ctx, guider, noise, sampler, sigmas, latent_image):
    from models.sampling import sample_latent

    ctx.check_interrupt()
    output, denoised = sample_latent(guider, ctx.services.models, latent_image, noise, sigmas, sampler.sampler_name,
                                     progress=progress_reporter(ctx, guider.model), warn=ctx.warn)
    return output, denoised


@node("SamplerCustom", category=CATEGORY,
      inputs=[In("model", "MODEL"), Boolean("add_noise", True),
              Int("noise_seed", 0, min=0, max=INT_MAX, control_after_generate=True), Float("cfg", 8.0, **CFG),
              In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("sampler", "SAMPLER"),
              In("sigmas", "SIGMAS"), In("latent_image", "LATENT")],
      outputs=[Out("LATENT", "output"), Out("LATENT", "denoised_output")],
      description="Samples with CFG over the given sigmas with the given sampler. denoised_output is the last "
                  "step's prediction of the clean latent.")
def sampler_custom(ctx, model, add_noise, noise_seed, cfg, positive, negative, sampler, sigmas, latent_image):
    from models.sampling import CFGGuider, DisabledNoise, SeededNoise

    noise = SeededNoise(noise_seed) if add_noise else DisabledNoise(noise_seed)
    return _run(ctx, CFGGuider(model, positive, negative, cfg), noise, sampler, sigmas, latent_image)


@node("SamplerCustomAdvanced", category=CATEGORY,
      inputs=[In("noise", "NOISE"), In("guider", "GUIDER"), In("sampler", "SAMPLER"), In("sigmas", "SIGMAS"),
              In("latent_image", "LATENT")],
      outputs=[Out("LATENT", "output"), Out("LATENT", "denoised_output")],
      description="Samples with a guider's model and conditioning, a noise source, a sampler and sigmas.")
def sampler_custom_advanced(ctx, noise, guider, sampler, sigmas, latent_image):
    return _run(ctx, guider, noise, sampler, sigmas, latent_image)


@node("KSamplerSelect", category=CATEGORY, inputs=[Combo("sampler_name", SAMPLER_NAMES)], outputs=[Out("SAMPLER")])
def ksampler_select(sampler_name):
    from models.sampling import SamplerChoice

    return (SamplerChoice(sampler_name),)


@node("RandomNoise", category=CATEGORY,
      inputs=[Int("noise_seed", 0, min=0, max=INT_MAX, control_after_generate=True)], outputs=[Out("NOISE")])
def random_noise(noise_seed):
    from models.sampling import SeededNoise

    return (SeededNoise(noise_seed),)


@node("DisableNoise", category=CATEGORY, inputs=[], outputs=[Out("NOISE")],
      description="No noise: the latent is sampled from as it is (e.g. the second of two chained samplers).")
def disable_noise():
    from models.sampling import DisabledNoise

    return (DisabledNoise(),)


@node("CFGGuider", category=CATEGORY,
      inputs=[In("model", "MODEL"), In("positive", "CONDITIONING"), In("negative", "CONDITIONING"),
              Float("cfg", 8.0, **CFG)],
      outputs=[Out("GUIDER")])
def cfg_guider(model, positive, negative, cfg):
    from models.sampling import CFGGuider

    return (CFGGuider(model, positive, negative, cfg),)


@node("BasicGuider", category=CATEGORY, inputs=[In("model", "MODEL"), In("conditioning", "CONDITIONING")],
      outputs=[Out("GUIDER")], description="The positive conditioning alone, without CFG.")
def basic_guider(model, conditioning):
    from models.sampling import CFGGuider

    return (CFGGuider(model, conditioning, None, 1.0),)


@node("DualCFGGuider", category=CATEGORY,
      inputs=[In("model", "MODEL"), In("cond1", "CONDITIONING"), In("cond2", "CONDITIONING"),
              In("negative", "CONDITIONING"), Float("cfg_conds", 8.0, **CFG), Float("cfg_cond2_negative", 8.0, **CFG),
              Combo("style", ("regular", "nested"))],
      outputs=[Out("GUIDER")],
      description="Two-level CFG: regular = cfg(cond2 vs negative) + cfg_conds * (cond1 - cond2); nested = "
                  "negative + cfg_cond2_negative * (cfg(cond1 vs cond2) - negative).")
def dual_cfg_guider(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style="regular"):
    from models.sampling import DualCFGGuider

    return (DualCFGGuider(model, cond1, cond2, negative, cfg_conds, cfg_cond2_negative, style),)


@node("BasicScheduler", category=f"{CATEGORY}/schedulers",
      inputs=[In("model", "MODEL"), Combo("scheduler", SCHEDULER_NAMES), Int("steps", 20, min=1, max=10000),
              Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("SIGMAS")],
      description="KSampler's sigmas: denoise < 1 schedules steps/denoise steps and keeps the last steps+1 sigmas.")
def basic_scheduler(model, scheduler, steps, denoise=1.0):
    from models.sampling import ksampler_sigmas

    return (ksampler_sigmas(model, scheduler, steps, denoise),)


@node("BetaSamplingScheduler", category=f"{CATEGORY}/schedulers",
      inputs=[In("model", "MODEL"), Int("steps", 20, min=1, max=10000),
              Float("alpha", 0.6, min=0.0, max=50.0, step=0.01), Float("beta", 0.6, min=0.0, max=50.0, step=0.01)],
      outputs=[Out("SIGMAS")],
      description="The model's sigmas at Beta(alpha, beta) quantiles (repeated ones dropped, so maybe fewer steps).")
def beta_sampling_scheduler(model, steps, alpha, beta):
    from models.samplers import beta_sigmas

    own = getattr(model, "sampling", None)  # SD 1.x / SDXL: the model's discrete sigma table
    if own is not None:
        return (own.beta_sigmas(steps, alpha, beta),)
    return (beta_sigmas(steps, model.shift, alpha, beta),)


@node("SDTurboScheduler", category=f"{CATEGORY}/schedulers",
      inputs=[In("model", "MODEL"), Int("steps", 1, min=1, max=10), Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("SIGMAS")],
      description="SD-Turbo's schedule: the model's sigmas at timesteps 999, 899, ..., 99, starting 10 * (1 - denoise) "
                  "of them in, at most steps of them, then 0.")
def sd_turbo_scheduler(model, steps, denoise):
    from models.sampling import sampling_of
    from models.sigma_schedules import turbo_timesteps

    return (sampling_of(model).timestep_sigmas(turbo_timesteps(steps, denoise)),)


@node("SplitSigmas", category=f"{CATEGORY}/sigmas",
      inputs=[In("sigmas", "SIGMAS"), Int("step", 0, min=0, max=10000)],
      outputs=[Out("SIGMAS", "high_sigmas"), Out("SIGMAS", "low_sigmas")])
def split_sigmas(sigmas, step):
    return sigmas[:step + 1], sigmas[step:]


@node("SplitSigmasDenoise", category=f"{CATEGORY}/sigmas",
      inputs=[In("sigmas", "SIGMAS"), Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("SIGMAS", "high_sigmas"), Out("SIGMAS", "low_sigmas")])
def split_sigmas_denoise(sigmas, denoise):
    kept = round((len(sigmas) - 1) * denoise)
    return sigmas[:-kept] if kept > 0 else sigmas[:0], sigmas[-(kept + 1):]


@node("SetFirstSigma", category=f"{CATEGORY}/sigmas",
      inputs=[In("sigmas", "SIGMAS"), Float("sigma", 136.0, min=0.0, max=20000.0, step=0.001)],
      outputs=[Out("SIGMAS")])
def set_first_sigma(sigmas, sigma):
    changed = sigmas.clone()
    changed[0] = sigma
    return (changed,)


@node("FlipSigmas", category=f"{CATEGORY}/sigmas", inputs=[In("sigmas", "SIGMAS")], outputs=[Out("SIGMAS")],
      description="Reverses the sigmas (low to high, for unsampling); a leading 0 becomes 1e-4.")
def flip_sigmas(sigmas):
    flipped = sigmas.flip(0)
    if len(flipped) and float(flipped[0]) == 0.0:
        flipped[0] = 0.0001
    return (flipped,)


@node("ModelSamplingAuraFlow", category="advanced/model",
      inputs=[In("model", "MODEL"), Float("shift", 1.73, min=0.0, max=100.0, step=0.01)],
      outputs=[Out("MODEL")],
      description="Discrete-flow sampling with time multiplier 1 (AuraFlow-style models) and the given shift; "
                  "ModelSamplingSD3 is the same with multiplier 1000.")
def model_sampling_aura_flow(model, shift):
    return (model.clone(shift=float(shift), multiplier=1.0),)


@node("ManualSigmas", category=f"{CATEGORY}/schedulers",
      inputs=[String("sigmas", "1, 0.5", multiline=False)], outputs=[Out("SIGMAS")],
      description="Sigmas typed as numbers separated by commas or spaces, e.g. '1, 0.75, 0.5, 0.25, 0'.")
def manual_sigmas(sigmas: str):
    import re

    import torch

    numbers = [float(n) for n in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", sigmas)]
    if not numbers:
        raise ValueError(f"ManualSigmas: no numbers in {sigmas!r}")
    return (torch.tensor(numbers, dtype=torch.float32),)
