"""Vision-language nodes: load a VLM (LLaVA, LLaVA-NeXT, LLaVA-OneVision, Video-LLaVA, BLIP-2,
Qwen2-VL, Qwen2.5-VL, Qwen3-VL, Fuyu), caption or answer questions about images (in padded batches) or
a video; draw grounding boxes.

Tokens stream to the client while they are generated (progress per token and text frames, one
line per reply); interrupt stops generation within one token.
"""
from __future__ import annotations

from execution.declare import Combo, Float, In, Int, Out, String, for_families, node
from models.vision_language.families import VLMListing, families_with_option, video_families

MAX_VIDEO_FRAMES = 64
MAX_PIXELS = 16384 * 16384
# VLMCaption's inputs that only some families use: the editors hide them for the others (see
# models/vision_language/families.py); a value given for another family is ignored with a warning.
FAMILY_OPTIONS = {"min_pixels": 0, "max_pixels": 0}  # name -> the value that means "not set"


@node("VLMLoader", display_name="Load VLM", category="loaders/multimodal",
      inputs=[Combo("vlm_name", VLMListing())],
      outputs=[Out("VLM")])
def vlm_loader(ctx, vlm_name: str):
    """Load a transformers VLM folder from models/vlm/; the family is read from its config."""
    from models.managed import load_managed
    from models.vision_language.loader import load_vlm

    return (load_managed(ctx.services, "vlm", vlm_name, lambda path, dtype, manager: load_vlm(path, dtype, manager)),)


@node("VLMCaption", display_name="VLM Caption / Ask", category="multimodal", input_is_list=True,
      inputs=[In("vlm", "VLM"), In("image", "IMAGE", optional=True),
              String("prompt", "Describe the image.", multiline=True),
              Int("max_new_tokens", 64, min=1, max=4096),
              Float("temperature", 0.0, min=0.0, max=2.0, step=0.05, tooltip="0 decodes greedily"),
              Float("top_p", 1.0, min=0.0, max=1.0, step=0.01),
              Int("seed", 0, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True),
              Int("batch_size", 8, min=1, max=256, optional=True,
                  tooltip="images generated together (greedy only; the replies are the same as one at a time)"),
              for_families(families_with_option("min_pixels"), Int(
                  "min_pixels", 0, min=0, max=MAX_PIXELS, step=1024, optional=True,
                  tooltip="Qwen-VL: each picture is resized to at least this many pixels (0: the model's setting)")),
              for_families(families_with_option("max_pixels"), Int(
                  "max_pixels", 0, min=0, max=MAX_PIXELS, step=1024, optional=True,
                  tooltip="Qwen-VL: each picture is resized to at most this many pixels (0: the model's setting); "
                          "fewer pixels, fewer image tokens")),
              for_families(video_families(), In(
                  "video", "VIDEO", optional=True,
                  tooltip="ask about a video instead (LLaVA-OneVision, Video-LLaVA, Qwen-VL)"))],
      outputs=[Out("STRING", "text", is_list=True), Out("BOXES", "boxes", is_list=True)])
def vlm_caption(ctx, vlm, image=None, prompt="Describe the image.", max_new_tokens=64, temperature=0.0,
                top_p=1.0, seed=0, batch_size=8, min_pixels=0, max_pixels=0, video=None):
    """Caption every image of the batches and lists given (or answer the prompt about each, or about
    the video): one STRING per image, and the grounding boxes found in each reply. A list of
    prompts pairs with the images (the last one repeats)."""
    from models.vision_language.generation import GenerationSettings
    from models.vision_language.grounding import boxes_in_picture
    from models.vision_language.images import flatten_image_batches, tensor_to_pil_images

    vlm, prompts, images, videos = _first(vlm), _as_list(prompt), _as_list(image), _as_list(video)
    max_new_tokens, temperature, top_p, seed, batch_size = (
        _first(v) for v in (max_new_tokens, temperature, top_p, seed, batch_size))
    options = _family_options(ctx, vlm, {"min_pixels": _first(min_pixels), "max_pixels": _first(max_pixels)})
    if bool(images) == bool(videos):
        raise ValueError("VLMCaption needs images or a video (exactly one of them)")
    if videos:
        return _answer_video(ctx, vlm, videos[0], prompts[0], GenerationSettings(max_new_tokens, temperature,
                                                                                 top_p, seed))
    pictures = [tensor_to_pil_images(item)[0] for item in flatten_image_batches(images)]
    batch_size = max(1, batch_size) if temperature <= 0 else 1  # sampling draws from one seed per image
    replies: list[str] = []
    for start in range(0, len(pictures), batch_size):
        ctx.check_interrupt()
        chunk = pictures[start:start + batch_size]
        inputs = vlm.prepare(chunk, [prompts[min(i, len(prompts) - 1)] for i in range(start, start + len(chunk))],
                             **options)
        budget = _token_budget(ctx, vlm, vlm.prompt_tokens(inputs), max_new_tokens)
        settings = GenerationSettings(budget, temperature, top_p, seed + start)
        replies.extend(_generate_streaming(ctx, vlm, inputs, settings, len(chunk), first_line=start == 0))
    boxes = [boxes_in_picture(reply, vlm.family.box_space(vlm.processor, *picture.size, **options), *picture.size)
             for reply, picture in zip(replies, pictures)]
    return (replies, boxes)


def _family_options(ctx, vlm, given: dict) -> dict:
    """The family-specific options that were set and that ``vlm``'s family uses; one set for a
    family that does not use it is ignored, with a warning naming the families that do."""
    from models.vision_language.families import family_label

    used = set(getattr(vlm.family, "options", ()))
    options = {}
    for name, value in given.items():
        if value is None or value == FAMILY_OPTIONS[name]:
            continue
        if name in used:
            options[name] = value
        else:
            families = ", ".join(family_label(f) for f in families_with_option(name))
            ctx.warn(f"{name} applies to {families} models only; ignored for {vlm.name} "
                     f"({family_label(vlm.model_type)})")
    return options


def _as_list(value) -> list:
    """Inputs arrive as lists (``input_is_list``); direct calls may pass plain values."""
    if value is None:
        return []
    return [v for v in value if v is not None] if isinstance(value, list) else [value]


def _first(value):
    return value[0] if isinstance(value, list) else value


def _generate_streaming(ctx, vlm, inputs, settings, rows: int, first_line: bool) -> list[str]:
    """Generate one batch, streaming its replies as consecutive lines, one progress step per token."""
    from models.vision_language.generation import OrderedLines

    lines = OrderedLines(rows, ctx.send_text, first_line)
    steps = [0]

    def on_token(row: int, piece: str | None, count: int) -> None:
        if piece is None:
            lines.finish(row)
        elif piece:
            lines.add(row, piece)
        if count > steps[0]:
            steps[0] = count
            ctx.progress(count, settings.max_new_tokens)

    # an interrupt ends generation at the next token (the hook reports nothing more); raised here
    replies = vlm.generate_batch(inputs, settings, on_token, should_stop=lambda: ctx.interrupted)
    ctx.check_interrupt()
    lines.close()
    return [reply.strip() for reply in replies]


def _answer_video(ctx, vlm, video, prompt: str, settings) -> tuple[list, list]:
    from models.vision_language.images import tensor_to_pil_images

    components = video.get_components()
    frame_count = int(components.images.shape[0])
    if frame_count > MAX_VIDEO_FRAMES:
        raise ValueError(f"the video has {frame_count} frames; sample at most {MAX_VIDEO_FRAMES} first "
                         f"(SampleVideoFrames)")
    inputs = vlm.prepare_video(tensor_to_pil_images(components.images), prompt, float(components.frame_rate))
    settings.max_new_tokens = _token_budget(ctx, vlm, vlm.prompt_tokens(inputs), settings.max_new_tokens)
    return (_generate_streaming(ctx, vlm, inputs, settings, 1, first_line=True), [[]])


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


@node("VLMDrawBoxes", display_name="Draw Boxes", category="multimodal", input_is_list=True,
      inputs=[In("image", "IMAGE"), In("boxes", "BOXES"), Int("line_width", 2, min=1, max=64)],
      outputs=[Out("IMAGE", is_list=True)])
def vlm_draw_boxes(image, boxes, line_width):
    """Outline each image's grounding boxes and write their labels (one IMAGE per image)."""
    from models.vision_language.grounding import draw_boxes
    from models.vision_language.images import flatten_image_batches, pil_to_tensor, tensor_to_pil_images

    pictures = [tensor_to_pil_images(item)[0] for item in flatten_image_batches(image)]
    width = line_width[0] if line_width else 2
    if len(boxes) not in (1, len(pictures)):
        raise ValueError(f"{len(pictures)} images but {len(boxes)} box lists")
    per_picture = boxes if len(boxes) == len(pictures) else boxes * len(pictures)
    return ([pil_to_tensor(draw_boxes(picture, found or [], width)) for picture, found in
             zip(pictures, per_picture)],)
