"""FLUX.1 [dev] and [schnell] on diffusers' FluxTransformer2DModel and AutoencoderKL."""
