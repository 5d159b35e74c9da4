"""SD3's KSampler procedure is the shared one in ``models/sampling.py`` (names kept for importers)."""
from models.sampling import ksampler_sigmas, run_ksampler, sample_latent, seeded_noise  # noqa: F401
