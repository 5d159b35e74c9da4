"""Issue 18, point 14: a model folder whose weights are pickles never reaches ``torch.load``."""
from __future__ import annotations

import pytest


@pytest.fixture
def no_torch_load(monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickle")

    monkeypatch.setattr(torch, "load", refuse)


def pickle_only_folder(tmp_path, config) -> object:
    folder = tmp_path / "model"
    config.save_pretrained(folder)
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not-a-real-pickle")
    return folder


def test_transformers_loaders_refuse_a_pickle_only_folder(tmp_path, no_torch_load):
    from transformers import CLIPConfig, LlavaConfig

    from models.contrastive.clip_score import load_clip_model
    from models.pickle_guard import PickleRefused
    from models.vision_language.loader import load_vlm

    clip = pickle_only_folder(tmp_path / "clip", CLIPConfig())
    with pytest.raises(PickleRefused, match="pytorch_model.bin"):
        load_clip_model(clip)
    vlm = pickle_only_folder(tmp_path / "vlm", LlavaConfig())
    with pytest.raises(PickleRefused, match="safetensors only"):
        load_vlm(vlm)


def test_diffusers_component_folder_is_refused_and_safetensors_are_forced(tmp_path, no_torch_load):
    from models.pickle_guard import PickleRefused, from_pretrained_safely, require_safetensors_folder

    folder = tmp_path / "transformer"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "diffusion_pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(PickleRefused):
        require_safetensors_folder(folder)

    calls = []

    class Recorder:
        @classmethod
        def from_pretrained(cls, path, **kwargs):
            calls.append(kwargs)

    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    from_pretrained_safely(Recorder, folder, torch_dtype=None)  # safetensors present: the pickle beside it is
    assert calls == [{"use_safetensors": True, "torch_dtype": None}]  # never read (use_safetensors)
