"""A tiny random LoRA for the demo SD3, in two spellings of the same adapters.

- ``loras/plexus-demo-sd3-tiny-RANDOM-lora.safetensors``: diffusers/PEFT keys
  (``transformer.transformer_blocks.0.attn.to_q.lora_A.weight``; the text encoders in diffusers'
  ``text_encoder.*.lora_linear_layer.up/down`` form), what
  ``StableDiffusion3Pipeline.load_lora_weights`` reads;
- ``loras/plexus-demo-sd3-tiny-RANDOM-lora-kohya.safetensors``: the same deltas in kohya keys on
  the original MMDiT names (fused ``qkv``, swapped adaLN halves) with ``alpha = rank / 2``, so it
  equals the PEFT file at twice the strength.

RANDOM WEIGHTS: for smoke tests and fidelity tests only.
"""
from __future__ import annotations

from pathlib import Path

from models.demo.sd3 import CLIP_SIZES, TRANSFORMER_CONFIG

PEFT_LORA = "plexus-demo-sd3-tiny-RANDOM-lora.safetensors"
KOHYA_LORA = "plexus-demo-sd3-tiny-RANDOM-lora-kohya.safetensors"
RANK = 4


def _shapes() -> dict[str, tuple[int, ...]]:
    """diffusers module -> (out, in) or (out, in, k, k) for the adapted modules of the demo SD3."""
    c = TRANSFORMER_CONFIG
    width = c["num_attention_heads"] * c["attention_head_dim"]
    patch = c["patch_size"]
    shapes: dict[str, tuple[int, ...]] = {}
    for part in ("to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"):
        shapes[f"transformer_blocks.0.attn.{part}"] = (width, width)
    shapes["transformer_blocks.1.attn.to_out.0"] = (width, width)
    shapes["transformer_blocks.0.ff.net.2"] = (width, 4 * width)
    shapes["context_embedder"] = (c["caption_projection_dim"], c["joint_attention_dim"])
    shapes["proj_out"] = (patch * patch * c["out_channels"], width)
    shapes["norm_out.linear"] = (2 * width, width)
    shapes["pos_embed.proj"] = (width, c["in_channels"], patch, patch)
    return shapes


ENCODER_MODULES = {  # diffusers text-encoder key -> (role, module, (out, in))
    "text_encoder.text_model.encoder.layers.0.self_attn.q_proj":
        ("clip_l", (CLIP_SIZES["clip_l"]["hidden_size"],) * 2),
    "text_encoder_2.text_model.encoder.layers.1.mlp.fc1":
        ("clip_g", (CLIP_SIZES["clip_g"]["intermediate_size"], CLIP_SIZES["clip_g"]["hidden_size"])),
}


def demo_lora_tensors(seed: int = 0) -> dict:
    """PEFT-format tensors; q/k/v (and the context q/k/v) of block 0 share one A matrix so that the
    fused kohya form can express them."""
    import torch

    generator = torch.Generator().manual_seed(seed)

    def random(*shape: int):
        return torch.randn(*shape, generator=generator) * 0.3

    tensors = {}
    width = TRANSFORMER_CONFIG["num_attention_heads"] * TRANSFORMER_CONFIG["attention_head_dim"]
    shared_down = {"to": random(RANK, width), "add": random(RANK, width)}  # block 0's x and context qkv
    for module, shape in _shapes().items():
        out_features, rest = shape[0], shape[1:]
        key = f"transformer.{module}"
        last = module.split(".")[-1]
        if module.startswith("transformer_blocks.0.attn.") and last in ("to_q", "to_k", "to_v"):
            down = shared_down["to"].clone()
        elif module.startswith("transformer_blocks.0.attn.") and last.startswith("add_"):
            down = shared_down["add"].clone()
        else:
            down = random(RANK, *rest)
        tensors[f"{key}.lora_A.weight"] = down
        tensors[f"{key}.lora_B.weight"] = random(out_features, RANK, *([1, 1] if len(rest) == 3 else []))
    for key, (_role, (out_features, in_features)) in ENCODER_MODULES.items():
        tensors[f"{key}.lora_linear_layer.down.weight"] = random(RANK, in_features)
        tensors[f"{key}.lora_linear_layer.up.weight"] = random(out_features, RANK)
    return tensors


def kohya_tensors(peft: dict) -> dict:
    """The same adapters as kohya keys on the original names, alpha = rank / 2."""
    import torch

    def pair(module: str):
        return peft[f"transformer.{module}.lora_B.weight"], peft[f"transformer.{module}.lora_A.weight"]

    out = {}

    def put(stem: str, up, down) -> None:
        out[f"{stem}.lora_up.weight"] = up.contiguous()
        out[f"{stem}.lora_down.weight"] = down.contiguous()
        out[f"{stem}.alpha"] = torch.tensor(RANK / 2)

    block = "transformer_blocks.0.attn."
    for fused, parts in (("x_block_attn_qkv", ("to_q", "to_k", "to_v")),
                         ("context_block_attn_qkv", ("add_q_proj", "add_k_proj", "add_v_proj"))):
        ups = [pair(block + p)[0] for p in parts]
        put(f"lora_unet_joint_blocks_0_{fused}", torch.cat(ups), pair(block + parts[0])[1])
    put("lora_unet_joint_blocks_1_x_block_attn_proj", *pair("transformer_blocks.1.attn.to_out.0"))
    put("lora_unet_joint_blocks_0_x_block_mlp_fc2", *pair("transformer_blocks.0.ff.net.2"))
    put("lora_unet_context_embedder", *pair("context_embedder"))
    put("lora_unet_final_layer_linear", *pair("proj_out"))
    up, down = pair("norm_out.linear")
    first, second = up.chunk(2)
    put("lora_unet_final_layer_adaLN_modulation_1", torch.cat([second, first]), down)
    put("lora_unet_x_embedder_proj", *pair("pos_embed.proj"))
    for key, (role, _shape) in ENCODER_MODULES.items():
        index = "1" if role == "clip_l" else "2"
        module = key.split(".", 1)[1].replace(".", "_")
        put(f"lora_te{index}_{module}", peft[f"{key}.lora_linear_layer.up.weight"],
            peft[f"{key}.lora_linear_layer.down.weight"])
    return out


def write_demo_lora(models_dir: str | Path, force: bool = False) -> list[Path]:
    from safetensors.torch import save_file

    folder = Path(models_dir) / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    peft_path, kohya_path = folder / PEFT_LORA, folder / KOHYA_LORA
    if peft_path.is_file() and kohya_path.is_file() and not force:
        return []
    peft = demo_lora_tensors()
    save_file(peft, str(peft_path), metadata={"plexus.demo": "RANDOM WEIGHTS"})
    save_file(kohya_tensors(peft), str(kohya_path), metadata={"plexus.demo": "RANDOM WEIGHTS"})
    return [peft_path, kohya_path]
