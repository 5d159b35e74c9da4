"""Video nodes with ComfyUI's names and ``VIDEO`` type (PyAV): load, split into frames, build from
frames, save as MP4, and sample frames (uniform N, or a frame rate) for video understanding."""
from __future__ import annotations

from typing import Any

from execution.declare import Combo, Float, In, Int, Out, String, node

VIDEO_SUFFIXES = (".mp4", ".webm", ".mkv", ".mov", ".avi", ".gif", ".m4v")


def _input_videos(services: Any) -> list[str]:
    return [f for f in services.paths.list_input_files() if f.lower().endswith(VIDEO_SUFFIXES)]


def _video_fingerprint(services: Any, file: str | None = None, **_: Any) -> str:
    path = services.paths.annotated_path(file or "")
    stat = path.stat()
    return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


def _validate_video(services: Any, file: str | None = None, **_: Any):
    try:
        path = services.paths.annotated_path(file or "")
    except ValueError as exc:
        return f"Invalid video file: {exc}"
    if not path.is_file():
        return f"Invalid video file: {file}"
    return True


@node("LoadVideo", display_name="Load Video", category="image/video",
      inputs=[Combo("file", _input_videos)],
      outputs=[Out("VIDEO")], fingerprint=_video_fingerprint, validate=_validate_video)
def load_video(ctx, file: str):
    """A video file from the input folder (decoded when its frames are first needed)."""
    from models.video.container import VideoFromFile

    return (VideoFromFile(ctx.services.paths.annotated_path(file)),)


@node("GetVideoComponents", display_name="Get Video Components", category="image/video",
      inputs=[In("video", "VIDEO")],
      outputs=[Out("IMAGE", "images"), Out("AUDIO", "audio"), Out("FLOAT", "fps")])
def get_video_components(video):
    """The frames (IMAGE batch), audio (AUDIO, None for a silent video) and frame rate of a video."""
    components = video.get_components()
    return (components.images, components.audio, float(components.frame_rate))


@node("CreateVideo", display_name="Create Video", category="image/video",
      inputs=[In("images", "IMAGE"), Float("fps", 30.0, min=1.0, max=120.0, step=1.0),
              In("audio", "AUDIO", optional=True)],
      outputs=[Out("VIDEO")])
def create_video(images, fps: float = 30.0, audio=None):
    """A video from a batch of frames at ``fps`` frames per second, with optional audio."""
    from fractions import Fraction

    from models.video.container import VideoComponents, VideoFromComponents

    rate = Fraction(fps).limit_denominator(10000)
    return (VideoFromComponents(VideoComponents(images=images, frame_rate=rate, audio=audio)),)


@node("SaveVideo", display_name="Save Video", category="image/video", output_node=True,
      inputs=[In("video", "VIDEO"), String("filename_prefix", "video/Plexus"),
              Combo("format", ["auto", "mp4"]), Combo("codec", ["auto", "h264"])])
def save_video(ctx, video, filename_prefix: str = "video/Plexus", format: str = "auto", codec: str = "auto"):
    """Save the video as an H.264 MP4 (AAC audio) in the output folder."""
    folder, stem, counter, subfolder = ctx.services.paths.save_path(filename_prefix)
    name = f"{stem}_{counter:05}_.mp4"
    video.save_to(folder / name, format="mp4", codec="h264")
    return {"ui": {"images": [{"filename": name, "subfolder": subfolder, "type": "output"}], "animated": [True]}}


@node("SampleVideoFrames", display_name="Sample Video Frames", category="image/video",
      inputs=[In("video", "VIDEO"), Combo("mode", ["uniform", "fps"]),
              Int("frames", 8, min=1, max=4096, tooltip="uniform: how many frames; fps: at most this many"),
              Float("fps", 1.0, min=0.01, max=120.0, step=0.1, tooltip="fps mode: frames kept per second")],
      outputs=[Out("VIDEO"), Out("IMAGE", "frames")])
def sample_video_frames(video, mode: str = "uniform", frames: int = 8, fps: float = 1.0):
    """Keep ``frames`` evenly spread frames, or one frame every 1/fps seconds (for a VLM)."""
    from fractions import Fraction

    from models.video.container import VideoComponents, VideoFromComponents, sample_frame_indices

    components = video.get_components()
    total = int(components.images.shape[0])
    indices = sample_frame_indices(total, float(components.frame_rate), mode, frames, fps)
    kept = components.images[indices]
    duration = total / float(components.frame_rate)
    rate = Fraction(len(indices) / duration).limit_denominator(10000) if mode == "uniform" else \
        Fraction(min(fps, float(components.frame_rate))).limit_denominator(10000)
    return (VideoFromComponents(VideoComponents(images=kept, frame_rate=rate)), kept)
