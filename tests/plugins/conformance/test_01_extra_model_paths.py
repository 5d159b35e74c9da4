"""Point 1: ``--extra-model-paths-config`` given as a relative path, with no ``base_path``: every
relative folder is taken from the yaml's own folder once (ComfyUI's rule), and every configured
folder that does not exist is warned about instead of skipped in silence."""
from __future__ import annotations

from pathlib import Path

from models.folders import FolderPaths


def test_relative_yaml_without_base_path_resolves_folders_from_the_yaml_folder(conformance, conformance_setup):
    packs = {p["name"]: p for p in conformance.custom_nodes()}
    assert packs["conformance_pack"]["loaded"] is True
    assert Path(packs["conformance_pack"]["path"]).parent == (conformance_setup.base / "config" / "packs").resolve()
    assert "conformance_ckpt.safetensors" in conformance.models("checkpoints")


def test_missing_configured_folders_are_warned_about(conformance_env, conformance_server, conformance_setup):
    missing = (conformance_setup.base / "config" / "missing_nodes").resolve()
    assert any(str(missing) in w and "does not exist" in w for w in conformance_env.warnings)
    log = conformance_server.log()
    assert f"folder {missing} does not exist" in log  # the yaml reader
    assert f"custom nodes folder {missing} does not exist" in log  # the pack loader
    default_folder = (conformance_setup.base / "server" / "custom_nodes").resolve()
    assert default_folder.is_dir() and f"custom nodes folder {default_folder}" not in log  # created at start, not warned


def test_paths_rules(tmp_path, monkeypatch):
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "a.yaml").write_text("one:\n  base_path: ../shared\n  checkpoints: ckpts\n"
                                   "two:\n  loras: /abs/loras\n  vae: $PLEXUS_TEST_VAE\n")
    monkeypatch.setenv("PLEXUS_TEST_VAE", str(tmp_path / "vae_env"))
    monkeypatch.chdir(tmp_path)
    paths = FolderPaths.create(tmp_path / "base")
    warnings = paths.load_extra_model_paths("cfg/a.yaml")
    assert paths.model_folders["checkpoints"][-1] == tmp_path / "shared" / "ckpts"  # base_path from the yaml folder
    assert paths.model_folders["loras"][-1] == Path("/abs/loras")
    assert paths.model_folders["vae"][-1] == tmp_path / "vae_env"  # variables are expanded
    assert len(warnings) == 3
