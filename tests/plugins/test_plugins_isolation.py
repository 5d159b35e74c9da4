"""Packs cannot harm start-up or the source tree: a read-only source tree while packs load, a
time limit on pack imports, and Plexus's renamed nodes yielding their old names to packs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.plugins import EXAMPLE_PACKS, PLUGIN_PACKS, ROOT, load_registry, make_services

pytestmark = pytest.mark.usefixtures("restore_compat_binding")

SLOW_PACKS = ROOT / "tests" / "plugins" / "slow_packs"
CLASH_PACKS = ROOT / "tests" / "plugins" / "clash_packs"

# Runs in a fresh interpreter: every write into the source tree is refused (an audit hook; the tests
# run as root, for whom file modes mean nothing) while the test packs and the example pack load.
READ_ONLY_DRIVER = r'''
import json, os, sys
sys.dont_write_bytecode = True
root, base = os.path.realpath(sys.argv[1]), sys.argv[2]
refused = []
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
TARGET_ARGUMENT = {"os.mkdir": 0, "os.remove": 0, "os.rmdir": 0, "os.chmod": 0, "os.truncate": 0, "os.utime": 0,
                   "os.rename": 1, "os.replace": 1, "os.link": 1, "os.symlink": 1, "shutil.copyfile": 1,
                   "shutil.copytree": 1, "shutil.move": 1}

def inside_source(path):
    path = os.fsdecode(path)
    parent, name = os.path.split(os.path.abspath(path))
    real = os.path.join(os.path.realpath(parent), name)
    return real == root or real.startswith(root + os.sep)

def read_only(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in mode for c in "wax+")) or bool((flags or 0) & WRITE_FLAGS)
        targets = [path] if writing else []
    elif event in TARGET_ARGUMENT:
        targets = [args[TARGET_ARGUMENT[event]]]
    else:
        return
    for target in targets:
        if isinstance(target, (str, bytes, os.PathLike)) and inside_source(target):
            refused.append([event, os.fsdecode(target)])
            raise PermissionError(13, "read-only source tree", os.fsdecode(target))

sys.path.insert(0, root)
from tests.fixtures.plugins import EXAMPLE_PACKS, PLUGIN_PACKS, load_registry, make_services
from pathlib import Path
services = make_services(Path(base))
sys.addaudithook(read_only)
registry, report = load_registry(services, [PLUGIN_PACKS, EXAMPLE_PACKS])
print(json.dumps({"packs": {p.name: p.status for p in report.packs}, "refused": refused,
                  "errors": {p.name: p.error for p in report.packs if p.error}}))
'''


def test_packs_never_write_into_the_source_tree(tmp_path, plugin_env):
    base = tmp_path / "base"
    result = subprocess.run([sys.executable, "-c", READ_ONLY_DRIVER, str(ROOT), str(base)], capture_output=True,
                            text=True, timeout=240, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["refused"] == []
    # Every pack ends as it does with a writable tree (the deliberately broken test packs fail either way).
    assert outcome["packs"] == {p.name: p.status for p in plugin_env.report.packs}, outcome["errors"]
    assert outcome["packs"]["web_install_pack"] == "loaded" and outcome["packs"]["comfy_surface_pack"] == "loaded"
    # What the pack derived as "the ComfyUI folder" is in the user directory.
    comfy_root = base / "user" / "comfyui_root"
    assert (comfy_root / "web" / "extensions" / "web_install_pack_link").is_symlink()
    assert (comfy_root / "web" / "extensions" / "web_install_pack_copy" / "installed.js").is_file()
    assert json.loads((comfy_root / "web_install_pack.json").read_text()) == {"installed": True}
    assert not (comfy_root / "web" / "extensions" / "web_install_pack").exists()  # it honoured `supports`


def test_a_hanging_pack_is_reported_and_skipped(tmp_path):
    services = make_services(tmp_path)
    started = time.monotonic()
    registry, report = load_registry(services, [SLOW_PACKS], import_timeout=0.5)
    assert time.monotonic() - started < 10
    hanging = report.pack("hanging_pack")
    assert hanging.status == "failed" and hanging.nodes == []
    assert "did not finish importing within 0.5 s" in hanging.error and "--custom-node-import-timeout" in hanging.error
    assert report.pack("quick_pack").loaded and registry.get("QuickAfterHang") is not None


def test_the_import_time_limit_is_a_flag():
    from app.flags import build_parser

    assert build_parser().parse_args([]).custom_node_import_timeout == 120.0
    assert build_parser().parse_args(["serve", "--custom-node-import-timeout", "5"]).custom_node_import_timeout == 5.0


# Node names of popular IP-Adapter packs (ComfyUI_IPAdapter_plus, the InstantX SD3 adapter pack).
POPULAR_PACK_NAMES = ("IPAdapterModelLoader", "IPAdapterApply", "IPAdapter", "IPAdapterAdvanced",
                      "IPAdapterUnifiedLoader", "IPAdapterEncoder", "IPAdapterSD3Loader", "ApplyIPAdapterSD3")


def test_old_ip_adapter_names_reach_the_renamed_nodes_until_a_pack_defines_them(tmp_path):
    from execution.validate import validate_prompt

    services = make_services(tmp_path)
    plain, _ = load_registry(services, [])
    assert not [name for name in POPULAR_PACK_NAMES if plain.is_builtin(name)]
    assert plain.get("IPAdapterApply").name == "SD3IPAdapterApply"
    assert plain.get("IPAdapterModelLoader").name == "SD3IPAdapterLoader"
    assert plain.aliases() == {"IPAdapterModelLoader": "SD3IPAdapterLoader", "IPAdapterApply": "SD3IPAdapterApply"}
    assert "IPAdapterApply" not in plain.object_info(services)  # old names are not offered as nodes

    with_pack, report = load_registry(services, [CLASH_PACKS])
    pack = report.pack("ipadapter_like_pack")
    assert pack.loaded and pack.clashes == [] and sorted(pack.nodes) == ["IPAdapterApply", "IPAdapterModelLoader"]
    assert with_pack.get("IPAdapterApply").python_module == "custom_nodes.ipadapter_like_pack"
    assert with_pack.aliases() == {}
    prompt = {"1": {"class_type": "IPAdapterModelLoader", "inputs": {"ipadapter_file": "plus.safetensors"}},
              "2": {"class_type": "IPAdapterApply", "inputs": {"ipadapter": ["1", 0], "weight": 0.5}},
              "3": {"class_type": "PreviewText", "inputs": {"text": ["2", 0]}}}
    assert validate_prompt(prompt, with_pack, services).ok
    from tests.fixtures.plugins import PluginRunner

    runner = PluginRunner(with_pack, services)
    try:
        assert runner.run(prompt).ui("3") == {"text": ["pack:plus.safetensors@0.5"]}
    finally:
        runner.close()


def test_an_old_editor_workflow_with_the_old_names_still_loads(tmp_path):
    from execution.validate import validate_prompt
    from execution.workflow import load_any

    services = make_services(tmp_path)
    registry, _ = load_registry(services, [])
    text = (ROOT / "workflows" / "sd3_ip_adapter.json").read_text()
    assert "SD3IPAdapterApply" in text
    old_workflow = json.loads(text.replace("SD3IPAdapterApply", "IPAdapterApply")
                              .replace("SD3IPAdapterLoader", "IPAdapterModelLoader"))
    prompt, _, _ = load_any(old_workflow, registry)
    assert {"IPAdapterApply", "IPAdapterModelLoader"} <= {node["class_type"] for node in prompt.values()}
    adapter = next(node for node in prompt.values() if node["class_type"] == "IPAdapterApply")
    assert adapter["inputs"]["weight"] == next(n for n in old_workflow["nodes"]
                                               if n["type"] == "IPAdapterApply")["widgets_values"][0]
    checked = validate_prompt(prompt, registry, services)
    # The model and image files are absent here: only the loader's file-name error may remain.
    renamed = {nid: e for nid, e in checked.response().get("node_errors", {}).items()
               if e["class_type"] in ("IPAdapterApply", "IPAdapterModelLoader")}
    assert all(e["type"] == "value_not_in_list" for errors in renamed.values() for e in errors["errors"]), renamed
    assert "does not exist" not in json.dumps(checked.response())
