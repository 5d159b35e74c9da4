"""``VIDEO`` values (ComfyUI's video interface) on PyAV: a file decoded on demand, or frames in memory.

Both kinds answer ``get_components()`` (frames ``[T,H,W,3]`` in 0..1, audio, frame rate),
``get_dimensions()``, ``get_duration()`` and ``save_to(path, format, codec)``, the methods ComfyUI's
nodes and packs call. Audio is ComfyUI's ``AUDIO`` value, ``{"waveform": [1,C,S] floats,
"sample_rate": int}`` (AAC in the MP4 files written here), or None for a silent video.
"""
from __future__ import annotations

import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

@dataclass
class VideoComponents:
    images: Any  # IMAGE [T,H,W,3]
    frame_rate: Fraction = Fraction(24)
    audio: Any = None
    metadata: dict | None = None


class VideoInput(ABC):
    """What a ``VIDEO`` socket carries (ComfyUI's ``comfy_api.input.VideoInput``)."""

    @abstractmethod
    def get_components(self) -> VideoComponents:
        ...

    @abstractmethod
    def get_dimensions(self) -> tuple[int, int]:
        ...

    @abstractmethod
    def get_duration(self) -> float:
        ...

    @abstractmethod
    def save_to(self, path: str | Path, format: str = "auto", codec: str = "auto", metadata: dict | None = None) -> None:
        ...


class VideoFromComponents(VideoInput):
    """A video held as frames in memory."""

    def __init__(self, components: VideoComponents):
        self.components = components

    def get_components(self) -> VideoComponents:
        return self.components

    def get_dimensions(self) -> tuple[int, int]:
        return int(self.components.images.shape[2]), int(self.components.images.shape[1])

    def get_duration(self) -> float:
        return float(self.components.images.shape[0] / self.components.frame_rate)

    def get_frame_count(self) -> int:
        return int(self.components.images.shape[0])

    def save_to(self, path: str | Path, format: str = "auto", codec: str = "auto", metadata: dict | None = None) -> None:
        write_video(path, self.components.images, self.components.frame_rate, metadata, self.components.audio)


class VideoFromFile(VideoInput):
    """A video file, decoded when its frames are asked for (then kept)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._components: VideoComponents | None = None

    def get_components(self) -> VideoComponents:
        if self._components is None:
            self._components = read_video(self.path)
        return self._components

    def get_dimensions(self) -> tuple[int, int]:
        import av

        with av.open(str(self.path)) as container:
            stream = _video_stream(container, self.path)
            return int(stream.codec_context.width), int(stream.codec_context.height)

    def get_duration(self) -> float:
        components = self.get_components()
        return float(components.images.shape[0] / components.frame_rate)

    def get_frame_count(self) -> int:
        return int(self.get_components().images.shape[0])

    def save_to(self, path: str | Path, format: str = "auto", codec: str = "auto", metadata: dict | None = None) -> None:
        components = self.get_components()
        write_video(path, components.images, components.frame_rate, metadata, components.audio)


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        raise ValueError(f"{path.name}: no video stream")
    return container.streams.video[0]


def read_video(path: str | Path) -> VideoComponents:
    """Every frame of the first video stream, as RGB floats, its average frame rate, and the first
    audio stream (if any) as planar floats."""
    import av
    import numpy as np
    import torch

    path = Path(path)
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise ValueError(f"{path.name}: not a readable video ({error})") from error
    with container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate or Fraction(24)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        metadata = dict(container.metadata)
    if not frames:
        raise ValueError(f"{path.name}: the video has no frames")
    images = torch.from_numpy(np.stack(frames).astype(np.float32) / 255.0)
    return VideoComponents(images=images, frame_rate=Fraction(rate), audio=_read_audio(path), metadata=metadata)


def _read_audio(path: Path) -> dict | None:
    import av
    import numpy as np
    import torch

    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=stream.rate)
        chunks = [out.to_ndarray() for frame in container.decode(stream) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray() for out in resampler.resample(None)]
    if not chunks:
        return None
    waveform = torch.from_numpy(np.concatenate(chunks, axis=1).astype(np.float32)).unsqueeze(0)
    return {"waveform": waveform, "sample_rate": int(stream.rate)}


def write_video(path: str | Path, images: Any, frame_rate: Fraction | float, metadata: dict | None = None,
                audio: dict | None = None) -> None:
    """H.264 (yuv420p) MP4, with AAC audio when given, written to a temp file and renamed (never
    half a file). Odd sizes are padded by one pixel, as the codec needs even dimensions."""
    import av
    import numpy as np
    import torch

    path = Path(path)
    pixels = (images.detach().float().cpu().clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
    if pixels.ndim != 4 or pixels.shape[0] == 0:
        raise ValueError(f"expected frames [T,H,W,3] with T >= 1, got shape {tuple(pixels.shape)}")
    pad_h, pad_w = pixels.shape[1] % 2, pixels.shape[2] % 2
    if pad_h or pad_w:
        pixels = np.pad(pixels, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    handle, temp_name = tempfile.mkstemp(prefix=".partial-", suffix=path.suffix or ".mp4", dir=path.parent)
    os.close(handle)
    try:
        with av.open(temp_name, mode="w", format="mp4") as container:
            for key, value in (metadata or {}).items():
                container.metadata[str(key)] = str(value)
            stream = container.add_stream("libx264", rate=Fraction(frame_rate).limit_denominator(10000))
            stream.width, stream.height = pixels.shape[2], pixels.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18"}
            sound = _audio_stream(container, audio) if audio is not None else None  # streams come before packets
            for frame_pixels in pixels[..., :3]:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_pixels), format="rgb24")
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
            if sound is not None:
                _write_audio(container, *sound)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _audio_stream(container: Any, audio: dict) -> tuple[Any, Any, str, int]:
    """An AAC stream for ComfyUI's AUDIO value, with its samples as planar floats [C,S]."""
    import numpy as np

    waveform = audio["waveform"]
    samples = waveform[0] if waveform.ndim == 3 else waveform  # [C,S]: the first item of a batch
    samples = np.ascontiguousarray(samples.detach().float().cpu().clamp(-1, 1).numpy())
    if samples.shape[0] not in (1, 2):
        raise ValueError(f"audio with {samples.shape[0]} channels: only mono and stereo are written")
    rate = int(audio["sample_rate"])
    layout = "mono" if samples.shape[0] == 1 else "stereo"
    stream = container.add_stream("aac", rate=rate)
    stream.layout = layout
    return stream, samples, layout, rate


def _write_audio(container: Any, stream: Any, samples: Any, layout: str, rate: int) -> None:
    import av
    import numpy as np

    size = stream.codec_context.frame_size or 1024  # AAC takes whole frames of this many samples
    for start in range(0, samples.shape[1], size):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + size]), format="fltp",
                                           layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def sample_frame_indices(frame_count: int, source_fps: float, mode: str, count: int, fps: float) -> list[int]:
    """Which frames to keep: ``uniform`` = ``count`` frames spread evenly (centres of equal
    segments); ``fps`` = one frame every ``1/fps`` seconds, capped at ``count`` when ``count > 0``."""
    if frame_count <= 0:
        return []
    if mode == "uniform":
        count = max(1, min(count, frame_count))
        return [int((index + 0.5) * frame_count / count) for index in range(count)]
    if mode == "fps":
        if fps <= 0:
            raise ValueError("fps sampling needs fps > 0")
        step = max(source_fps / fps, 1.0)
        indices = []
        position = 0.0
        while round(position) < frame_count:
            indices.append(int(round(position)))
            position += step
        return indices[:count] if count > 0 else indices
    raise ValueError(f"unknown frame sampling mode {mode!r}: use 'uniform' or 'fps'")
