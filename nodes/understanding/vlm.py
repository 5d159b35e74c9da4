"""Vision-language nodes: load a LLaVA / LLaVA-NeXT model, caption or answer questions about images.

Tokens stream to the client while they are generated (progress per token and text frames);
interrupt stops generation within one token.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Int, Out, String, node
from models.folders import ModelListing


@node("VLMLoader", display_name="Load VLM (LLaVA)", category="loaders/multimodal",
      inputs=[Combo("vlm_name", ModelListing("vlm"))],
      outputs=[Out("VLM")])
def vlm_loader(ctx, vlm_name: str):
    """Load a LLaVA 1.5 or LLaVA-NeXT transformers folder from models/vlm/, with its processor and chat template."""
    from models.vision_language.llava import load_vlm
    from models.managed import load_managed

    return (load_managed(ctx.services, "vlm", vlm_name, lambda path, dtype, manager: load_vlm(path, dtype, manager)),)


@node("VLMCaption", display_name="VLM Caption / Ask", category="multimodal",
      inputs=[In("vlm", "VLM"), In("image", "IMAGE"),
              String("prompt", "Describe the image.", multiline=True),
              Int("max_new_tokens", 64, min=1, max=4096),
              Float("temperature", 0.0, min=0.0, max=2.0, step=0.05, tooltip="0 decodes greedily"),
              Float("top_p", 1.0, min=0.0, max=1.0, step=0.01),
              Int("seed", 0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True)],
      outputs=[Out("STRING", "text", is_list=True)])
def vlm_caption(ctx, vlm, image, prompt: str, max_new_tokens: int = 64, temperature: float = 0.0,
                top_p: float = 1.0, seed: int = 0):
    """Caption each image of the batch (or answer the prompt about it); one STRING per image."""
    from models.vision_language.images import tensor_to_pil_images
    from models.vision_language.llava import GenerationSettings

    pictures = tensor_to_pil_images(image)
    replies: list[str] = []
    for index, picture in enumerate(pictures):
        ctx.check_interrupt()
        inputs = vlm.prepare(picture, prompt)
        budget = _token_budget(ctx, vlm, inputs["input_ids"].shape[1], max_new_tokens)
        settings = GenerationSettings(budget, temperature, top_p, seed + index)
        # one line per reply, also across the calls of a list-mapped node (one image per call)
        separator = ["\n" if index or getattr(ctx, "call_index", 0) else ""]

        def on_piece(piece: str, n_tokens: int, total: int = budget, separator: list = separator) -> None:
            if ctx.interrupted:  # the stop check ends generation; the interrupt is raised after it
                return
            if piece:  # text frames are appended to what the node shows
                ctx.send_text(separator.pop() + piece if separator else piece)
            ctx.progress(n_tokens, total)

        reply = vlm.generate(inputs, settings, on_piece, should_stop=lambda: ctx.interrupted)
        ctx.check_interrupt()
        replies.append(reply.strip())
    return (replies,)


def _token_budget(ctx, vlm, prompt_tokens: int, max_new_tokens: int) -> int:
    """``max_new_tokens``, clamped (with a warning) to what fits in the model's context."""
    room = vlm.context_length - prompt_tokens
    if room < 1:
        raise ValueError(f"the prompt and image take {prompt_tokens} tokens, more than the model's context of "
                         f"{vlm.context_length}; shorten the prompt or use a smaller image")
    if max_new_tokens > room:
        ctx.warn(f"max_new_tokens {max_new_tokens} does not fit in the context ({vlm.context_length} tokens, "
                 f"{prompt_tokens} used by the prompt); generating at most {room}")
        return room
    return max_new_tokens
