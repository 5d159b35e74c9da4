"""Video nodes (ComfyUI names, PyAV): save and load round trip, components, frame sampling, errors."""
from __future__ import annotations

import pytest


def _frames(count: int = 12, height: int = 48, width: int = 64):
    import torch

    frames = torch.full((count, height, width, 3), 0.9)
    for index in range(count):
        frames[index, 10:30, 2 + 3 * index:18 + 3 * index] = torch.tensor([0.8, 0.1, 0.1])
    return frames


def test_create_save_load_round_trip(vlm_env):
    from nodes.video.video import create_video, get_video_components, load_video, save_video

    frames = _frames()
    video = create_video(frames, 8.0)[0]
    assert video.get_dimensions() == (64, 48) and video.get_duration() == pytest.approx(1.5)
    result = save_video(vlm_env.context(), video, "clips/test")
    saved = result["ui"]["images"][0]
    assert result["ui"]["animated"] == [True] and saved["subfolder"] == "clips"
    path = vlm_env.services.paths.output_dir / "clips" / saved["filename"]
    assert path.is_file() and saved["filename"].endswith(".mp4")

    loaded = load_video(vlm_env.context(), f"clips/{saved['filename']} [output]")[0]
    images, audio, fps = get_video_components(loaded)
    assert images.shape == frames.shape and fps == pytest.approx(8.0) and audio is None
    assert float((images - frames).abs().mean()) < 0.02  # H.264 at crf 18: close, not exact
    assert loaded.get_dimensions() == (64, 48)


def test_odd_sizes_are_padded_for_the_codec(vlm_env):
    from nodes.video.video import create_video, load_video, save_video

    saved = save_video(vlm_env.context(), create_video(_frames(3, 33, 47), 5.0)[0], "odd")["ui"]["images"][0]
    loaded = load_video(vlm_env.context(), f"{saved['filename']} [output]")[0]
    assert loaded.get_components().images.shape == (3, 34, 48, 3)


def test_frame_sampling_uniform_and_fps():
    from models.video.container import sample_frame_indices
    from nodes.video.video import create_video, sample_video_frames

    assert sample_frame_indices(16, 8.0, "uniform", 4, 0) == [2, 6, 10, 14]
    assert sample_frame_indices(3, 8.0, "uniform", 10, 0) == [0, 1, 2]
    assert sample_frame_indices(16, 8.0, "fps", 0, 2.0) == [0, 4, 8, 12]
    assert sample_frame_indices(16, 8.0, "fps", 2, 2.0) == [0, 4]
    assert sample_frame_indices(4, 2.0, "fps", 0, 10.0) == [0, 1, 2, 3]  # never more than every frame
    with pytest.raises(ValueError, match="unknown frame sampling mode"):
        sample_frame_indices(4, 2.0, "random", 2, 1.0)

    frames = _frames(16)
    sampled, images = sample_video_frames(create_video(frames, 8.0)[0], "uniform", 4, 1.0)
    assert images.shape[0] == 4 and (images[1] == frames[6]).all()
    assert float(sampled.get_components().frame_rate) == pytest.approx(2.0)  # 4 frames over 2 s
    sampled, images = sample_video_frames(create_video(frames, 8.0)[0], "fps", 100, 4.0)
    assert images.shape[0] == 8 and float(sampled.get_components().frame_rate) == pytest.approx(4.0)


def test_a_file_that_is_not_a_video_fails_clearly(vlm_env):
    from nodes.video.video import get_video_components, load_video

    bad = vlm_env.services.paths.input_dir / "broken.mp4"
    bad.write_bytes(b"not a video at all")
    video = load_video(vlm_env.context(), "broken.mp4")[0]
    with pytest.raises(ValueError, match="not a readable video"):
        get_video_components(video)
    from execution.validate import validate_prompt

    prompt = {"1": {"class_type": "LoadVideo", "inputs": {"file": "missing.mp4"}},
              "2": {"class_type": "SaveVideo", "inputs": {"video": ["1", 0], "filename_prefix": "x",
                                                          "format": "auto", "codec": "auto"}}}
    validation = validate_prompt(prompt, vlm_env.registry, vlm_env.services)
    assert not validation.ok and "missing.mp4" in str(validation.response())


def test_audio_goes_through_create_save_load(vlm_env):
    import numpy as np
    import torch

    from nodes.video.video import create_video, get_video_components, load_video, save_video

    rate = 16000
    times = torch.arange(int(1.5 * rate)) / rate
    tone = (0.5 * torch.sin(2 * torch.pi * 440 * times)).reshape(1, 1, -1)
    video = create_video(_frames(), 8.0, {"waveform": tone, "sample_rate": rate})[0]
    saved = save_video(vlm_env.context(), video, "with_audio")["ui"]["images"][0]
    loaded = load_video(vlm_env.context(), f"{saved['filename']} [output]")[0]
    _, audio, _ = get_video_components(loaded)
    assert audio["sample_rate"] == rate and audio["waveform"].shape[:2] == (1, 1)
    decoded, original = audio["waveform"][0, 0].numpy(), tone[0, 0].numpy()
    assert abs(decoded.shape[0] - original.shape[0]) <= 2048  # AAC adds at most a frame of priming
    span = original.shape[0] - 2048
    best = max(float(np.dot(decoded[k:k + span], original[:span])) for k in range(2048))
    assert best / float(np.dot(original[:span], original[:span])) > 0.98  # the same tone, lossy but close
    silent = create_video(_frames(3), 8.0)[0]
    saved = save_video(vlm_env.context(), silent, "silent")["ui"]["images"][0]
    assert get_video_components(load_video(vlm_env.context(), f"{saved['filename']} [output]")[0])[1] is None
