# Written for Plexus's tests: a node in the style of the "loader + LoRA + sampler in one node"
# packs: it drives models only through ComfyUI's module API (comfy.sd, comfy.utils.load_torch_file,
# comfy.sample, latent_preview, nodes.*), and must give exactly what Plexus's own graph gives.
import comfy.sample
import comfy.sd
import comfy.utils
import folder_paths
import latent_preview
import nodes


class PackLoraSampler:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "lora_name": (folder_paths.get_filename_list("loras"),),
                             "strength": ("FLOAT", {"default": 0.7, "min": -10.0, "max": 10.0}),
                             "positive": ("STRING", {"default": "a red fox"}),
                             "negative": ("STRING", {"default": ""}),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
                             "steps": ("INT", {"default": 3, "min": 1, "max": 100})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "test/sampling"

    def sample(self, ckpt_name, lora_name, strength, positive, negative, seed, steps):
        path = folder_paths.get_full_path_or_raise("checkpoints", ckpt_name)
        model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(path, output_vae=True, output_clip=True)
        lora = comfy.utils.load_torch_file(folder_paths.get_full_path_or_raise("loras", lora_name), safe_load=True)
        model, clip = comfy.sd.load_lora_for_models(model, clip, lora, strength, strength)
        encode = nodes.CLIPTextEncode()
        positive = encode.encode(clip, positive)[0]
        negative = encode.encode(clip, negative)[0]
        latent = nodes.EmptySD3LatentImage().generate(64, 64, 1)[0]["samples"]
        latent = comfy.sample.fix_empty_latent_channels(model, latent)
        noise = comfy.sample.prepare_noise(latent, seed)
        callback = latent_preview.prepare_callback(model, steps)
        samples = comfy.sample.sample(model, noise, steps, 5.0, "euler", "normal", positive, negative, latent,
                                      denoise=1.0, callback=callback, seed=seed)
        return ({"samples": samples},)


NODE_CLASS_MAPPINGS = {"PackLoraSampler": PackLoraSampler}


class PackCustomSampler:
    """comfy.samplers.sampler_object + the BasicScheduler class + comfy.sample.sample_custom."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"ckpt_name": (folder_paths.get_filename_list("checkpoints"),),
                             "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
                             "steps": ("INT", {"default": 3, "min": 1, "max": 100})}}

    RETURN_TYPES = ("LATENT",)
    FUNCTION = "sample"
    CATEGORY = "test/sampling"

    def sample(self, ckpt_name, seed, steps):
        import comfy.samplers
        from comfy_extras.nodes_custom_sampler import BasicScheduler

        model, clip, _vae, _ = comfy.sd.load_checkpoint_guess_config(folder_paths.get_full_path("checkpoints", ckpt_name))
        positive = nodes.CLIPTextEncode().encode(clip, "a red fox")[0]
        negative = nodes.CLIPTextEncode().encode(clip, "")[0]
        sigmas = BasicScheduler().get_sigmas(model, "normal", steps, 1.0)[0]
        sampler = comfy.samplers.sampler_object("euler")
        latent = nodes.EmptySD3LatentImage().generate(64, 64, 1)[0]["samples"]
        noise = comfy.sample.prepare_noise(latent, seed)
        samples = comfy.sample.sample_custom(model, noise, 5.0, sampler, sigmas, positive, negative, latent)
        return ({"samples": samples},)


NODE_CLASS_MAPPINGS["PackCustomSampler"] = PackCustomSampler
