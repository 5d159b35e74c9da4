"""ControlNet hint preprocessors: Canny edges, blur (for blur/tile nets), grayscale and a light
line-art extractor. All use OpenCV; IMAGE in, IMAGE out ([B,H,W,C] floats in 0..1).

To make a hint match the latent size, chain the ``ImageScale`` node (crop modes) before these.
"""
from __future__ import annotations

from execution.declare import Boolean, Float, In, Int, Out, node

CATEGORY = "image/preprocessors"


def _to_uint8_batch(image):
    import numpy as np

    array = image.detach().float().cpu().clamp(0.0, 1.0).numpy()
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return (array[..., :3] * 255.0).round().astype(np.uint8)


def _gray_to_image(gray_batch, like):
    """[B,H,W] uint8 -> IMAGE with three equal channels, on the input's device."""
    import numpy as np
    import torch

    stacked = np.stack(gray_batch).astype(np.float32) / 255.0
    return torch.from_numpy(stacked)[..., None].repeat(1, 1, 1, 3).to(like.device)


@node("Canny", category=CATEGORY,
      inputs=[In("image", "IMAGE"),
              Float("low_threshold", 0.4, min=0.01, max=0.99, step=0.01,
                    tooltip="Edges weaker than this (fraction of full scale) are dropped."),
              Float("high_threshold", 0.8, min=0.01, max=0.99, step=0.01,
                    tooltip="Edges stronger than this (fraction of full scale) are kept for sure.")],
      outputs=[Out("IMAGE")])
def canny(image, low_threshold: float, high_threshold: float):
    """Canny edge map (white edges on black), as canny ControlNets expect."""
    import cv2

    low, high = sorted((low_threshold, high_threshold))
    edges = [cv2.Canny(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), low * 255.0, high * 255.0)
             for frame in _to_uint8_batch(image)]
    return (_gray_to_image(edges, image),)


@node("BlurPreprocessor", category=CATEGORY, display_name="Blur (ControlNet hint)",
      inputs=[In("image", "IMAGE"), Int("blur_radius", 8, min=1, max=256, tooltip="Kernel radius in pixels."),
              Float("sigma", 4.0, min=0.1, max=128.0, step=0.1),
              Int("downscale", 1, min=1, max=16, tooltip="Shrink then re-enlarge first (tile use-case).")],
      outputs=[Out("IMAGE")])
def blur_preprocessor(image, blur_radius: int, sigma: float, downscale: int = 1):
    """Gaussian blur, optionally after a down-and-up scale, for blur and tile ControlNets."""
    import cv2
    import numpy as np
    import torch

    kernel = 2 * blur_radius + 1
    frames = []
    for frame in image.detach().float().cpu().numpy():
        height, width = frame.shape[:2]
        if downscale > 1:
            small = cv2.resize(frame, (max(1, width // downscale), max(1, height // downscale)),
                               interpolation=cv2.INTER_AREA)
            frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        blurred = cv2.GaussianBlur(frame, (kernel, kernel), sigmaX=sigma, sigmaY=sigma,
                                   borderType=cv2.BORDER_REFLECT)
        frames.append(blurred.reshape(frame.shape))
    return (torch.from_numpy(np.clip(np.stack(frames), 0.0, 1.0)).to(image.device),)


@node("GrayscalePreprocessor", category=CATEGORY, display_name="Grayscale (ControlNet hint)",
      inputs=[In("image", "IMAGE")], outputs=[Out("IMAGE")])
def grayscale_preprocessor(image):
    """Luma (ITU-R 601, as OpenCV) in all three channels."""
    import cv2

    return (_gray_to_image([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in _to_uint8_batch(image)], image),)


@node("LineartLitePreprocessor", category=CATEGORY, display_name="Line art lite (ControlNet hint)",
      inputs=[In("image", "IMAGE"),
              Int("line_width", 9, min=3, max=99, step=2, tooltip="Neighbourhood (odd) that decides a line."),
              Float("sensitivity", 4.0, min=0.0, max=64.0, step=0.5,
                    tooltip="How much darker than its surroundings a pixel must be to count as a line."),
              Boolean("white_lines", True, tooltip="White lines on black (as line-art ControlNets expect).")],
      outputs=[Out("IMAGE")])
def lineart_lite_preprocessor(image, line_width: int, sensitivity: float, white_lines: bool = True):
    """A model-free line extractor: grayscale, light denoise, adaptive threshold."""
    import cv2

    block = line_width if line_width % 2 else line_width + 1
    lines = []
    for frame in _to_uint8_batch(image):
        gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (3, 3), 0)
        mode = cv2.THRESH_BINARY_INV if white_lines else cv2.THRESH_BINARY
        lines.append(cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, block, sensitivity))
    return (_gray_to_image(lines, image),)
