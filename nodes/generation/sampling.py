"""Sampler nodes for every family: KSampler, KSamplerAdvanced, and ModelSamplingSD3 for the flow models.

Every step reports progress (with a latent preview unless ``--preview-method none``) and checks
for interrupt. No torch import at module level.
"""
from __future__ import annotations

from execution.declare import INT_MAX, Combo, Float, In, Int, Out, node

# Every family takes every name (ComfyUI's order): flow models (SD3, FLUX) through models/samplers.py,
# SD 1.x / SDXL through models/stable_diffusion/k_samplers.py and schedule.py, the shared samplers from
# models/solvers/. The *_gpu names are aliases (the Brownian tree is drawn on the CPU everywhere).
SAMPLER_NAMES = ("euler", "euler_ancestral", "heun", "dpm_2", "dpm_2_ancestral", "lms", "dpmpp_2s_ancestral",
                 "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_2m_sde_gpu", "dpmpp_3m_sde",
                 "dpmpp_3m_sde_gpu", "lcm", "ipndm", "deis", "res_multistep", "res_multistep_ancestral",
                 "gradient_estimation", "er_sde", "ddim", "uni_pc", "uni_pc_bh2")
SCHEDULER_NAMES = ("simple", "sgm_uniform", "normal", "beta", "karras", "exponential", "ddim_uniform",
                   "linear_quadratic", "kl_optimal", "beta57")


def progress_reporter(ctx, model):
    """A (step, total, x0) callback: progress + optional preview + interrupt check."""
    services = ctx.services
    if getattr(services, "preview_method", "none") == "none":
        return lambda step, total, x0: ctx.progress(step, total)
    from models.latent_preview import LatentPreviewer, fit_projection

    vae = model.transformer_options.get("preview_vae")
    weight = bias = None
    if vae is not None:
        weight, bias = fit_projection(vae, services.models)
    previewer = LatentPreviewer(weight, bias, model.latent_channels, getattr(services, "preview_max_side", 512))
    return lambda step, total, x0: ctx.progress(step, total, preview=previewer(x0))


def _sample(ctx, model, positive, negative, latent_image, **options):
    from models.sampling import run_ksampler

    ctx.check_interrupt()
    result = run_ksampler(model, ctx.services.models, positive, negative, latent_image,
                          progress=progress_reporter(ctx, model), warn=ctx.warn, **options)
    return (result,)


@node("KSampler", category="sampling",
      inputs=[In("model", "MODEL"), Int("seed", 0, min=0, max=INT_MAX, control_after_generate=True),
              Int("steps", 20, min=1, max=10000), Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              Combo("sampler_name", SAMPLER_NAMES), Combo("scheduler", SCHEDULER_NAMES),
              In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("latent_image", "LATENT"),
              Float("denoise", 1.0, min=0.0, max=1.0, step=0.01)],
      outputs=[Out("LATENT")],
      description="Denoises a latent (rectified flow for SD3/FLUX, eps-prediction k-diffusion samplers for "
                  "SD 1.x/SDXL). denoise < 1 keeps part of the input latent (image-to-image).")
def ksampler(ctx, model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent_image, denoise=1.0):
    return _sample(ctx, model, positive, negative, latent_image, seed=seed, steps=steps, cfg=cfg,
                   sampler_name=sampler_name, scheduler=scheduler, denoise=denoise)


@node("KSamplerAdvanced", category="sampling", display_name="KSampler (Advanced)",
      inputs=[In("model", "MODEL"), Combo("add_noise", ("enable", "disable")),
              Int("noise_seed", 0, min=0, max=INT_MAX, control_after_generate=True),
              Int("steps", 20, min=1, max=10000), Float("cfg", 8.0, min=0.0, max=100.0, step=0.1, round=0.01),
              Combo("sampler_name", SAMPLER_NAMES), Combo("scheduler", SCHEDULER_NAMES),
              In("positive", "CONDITIONING"), In("negative", "CONDITIONING"), In("latent_image", "LATENT"),
              Int("start_at_step", 0, min=0, max=10000), Int("end_at_step", 10000, min=0, max=10000),
              Combo("return_with_leftover_noise", ("disable", "enable"))],
      outputs=[Out("LATENT")],
      description="KSampler over a slice [start_at_step, end_at_step) of the schedule, optionally without "
                  "adding noise and returning the latent with its leftover noise (for chaining samplers).")
def ksampler_advanced(ctx, model, add_noise, noise_seed, steps, cfg, sampler_name, scheduler, positive, negative,
                      latent_image, start_at_step, end_at_step, return_with_leftover_noise):
    return _sample(ctx, model, positive, negative, latent_image, seed=noise_seed, steps=steps, cfg=cfg,
                   sampler_name=sampler_name, scheduler=scheduler, add_noise=add_noise == "enable",
                   start_step=start_at_step, end_step=end_at_step,
                   force_full_denoise=return_with_leftover_noise != "enable")


@node("ModelSamplingSD3", category="advanced/model",
      inputs=[In("model", "MODEL"), Float("shift", 3.0, min=0.0, max=100.0, step=0.01)],
      outputs=[Out("MODEL")],
      description="Sets the flow time shift (higher spends more steps at high noise). Returns a patched "
                  "clone; the loaded model is not changed.")
def model_sampling_sd3(model, shift):
    return (model.clone(shift=float(shift)),)
