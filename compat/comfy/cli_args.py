"""ComfyUI's ``comfy.cli_args``: ``args`` carries ComfyUI's flag names with Plexus's values where
Plexus has the flag (``cpu``, ``preview_method``, directories, ``listen``/``port`` defaults) and
ComfyUI's defaults elsewhere. Reading it is real; changing it changes nothing in Plexus."""
from __future__ import annotations

import argparse
import enum

import _plexus_binding as binding


class LatentPreviewMethod(enum.Enum):
    NoPreviews = "none"
    Auto = "auto"
    Latent2RGB = "latent2rgb"
    TAESD = "taesd"


class PerformanceFeature(enum.Enum):
    Fp16Accumulation = "fp16_accumulation"
    Fp8MatrixMultiplication = "fp8_matrix_mult"
    CublasOps = "cublas_ops"


parser = argparse.ArgumentParser(prog="plexus (ComfyUI flag names)", add_help=False)


def _plexus_values() -> dict:
    try:
        services = binding.services()
    except binding.NotBound:
        return {}
    paths = services.paths
    preview = getattr(services, "preview_method", "latent2rgb")
    return {"cpu": bool(getattr(services, "force_cpu", False)),
            "preview_method": LatentPreviewMethod(preview if preview in ("none", "latent2rgb") else "latent2rgb"),
            "base_directory": str(paths.base_dir), "output_directory": str(paths.output_dir),
            "input_directory": str(paths.input_dir), "temp_directory": str(paths.temp_dir),
            "user_directory": str(paths.user_dir)}


def _defaults() -> argparse.Namespace:
    values = dict(
        listen="127.0.0.1", port=8188, tls_keyfile=None, tls_certfile=None, enable_cors_header=None,
        max_upload_size=100.0, base_directory=None, extra_model_paths_config=None, output_directory=None,
        temp_directory=None, input_directory=None, user_directory=None, auto_launch=False,
        disable_auto_launch=True, cuda_device=None, cuda_malloc=False, disable_cuda_malloc=True,
        force_fp32=False, force_fp16=False, fp32_unet=False, fp64_unet=False, bf16_unet=False, fp16_unet=False,
        fp8_e4m3fn_unet=False, fp8_e5m2_unet=False, fp16_vae=False, fp32_vae=False, bf16_vae=False, cpu_vae=False,
        fp8_e4m3fn_text_enc=False, fp8_e5m2_text_enc=False, fp16_text_enc=False, fp32_text_enc=False,
        force_channels_last=False, directml=None, oneapi_device_selector=None, disable_ipex_optimize=False,
        supports_fp8_compute=False, preview_method=LatentPreviewMethod.Latent2RGB, preview_size=512,
        cache_classic=False, cache_lru=0, cache_none=False, use_split_cross_attention=False,
        use_quad_cross_attention=False, use_pytorch_cross_attention=True, use_sage_attention=False,
        use_flash_attention=False, disable_xformers=True, force_upcast_attention=False,
        dont_upcast_attention=False, gpu_only=False, highvram=False, normalvram=True, lowvram=False,
        novram=False, cpu=False, reserve_vram=None, async_offload=False, default_hashing_function="sha256",
        disable_smart_memory=False, deterministic=False, fast=set(), mmap_torch_files=False, dont_print_server=False,
        quick_test_for_ci=False, windows_standalone_build=False, disable_metadata=False,
        disable_all_custom_nodes=False, whitelist_custom_nodes=[], disable_api_nodes=True, multi_user=False,
        verbose="INFO", log_stdout=False, front_end_version="plexus", front_end_root=None,
        comfy_api_base="", database_url=None, enable_compress_response_body=False)
    values.update(_plexus_values())
    return argparse.Namespace(**values)


args = _defaults()


def enables_dynamic_vram() -> bool:
    return False
