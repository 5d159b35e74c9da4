"""The custom-node loader: discovery, isolation of broken packs, whitelist, clashes, module names,
Plexus-native packs, and main.py's wiring (extra_model_paths.yaml, --disable-all-custom-nodes)."""
from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from execution.plugins.loader import COMPAT_DIR, PackStatus, PluginReport, load_custom_nodes, print_import_times
from tests.fixtures.plugins import PLUGIN_PACKS, load_registry, make_services

# Loading packs into other registries rebinds the compat modules; later modules rely on the shared one.
pytestmark = pytest.mark.usefixtures("restore_compat_binding")

V1_NODE = '''
class {cls}:
    @classmethod
    def INPUT_TYPES(cls):
        return {{"required": {{"x": ("INT", {{"default": {default}}})}}}}
    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "tmp"
    def run(self, x):
        return (x + {default},)
'''


def write_pack(folder: Path, name: str, body: str, *, package: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if package:
        (folder / name).mkdir()
        path = folder / name / "__init__.py"
    else:
        path = folder / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def v1_pack(node_name: str, default: int = 1) -> str:
    return V1_NODE.format(cls="Node", default=default) + f"\nNODE_CLASS_MAPPINGS = {{{node_name!r}: Node}}\n"


def test_failed_packs_are_isolated_and_reported_with_tracebacks(plugin_env):
    report = plugin_env.report
    failed = {p.name: p for p in report.failed}
    assert set(failed) == {"broken_import_pack", "syntax_error_pack"}
    assert "this_dependency_is_not_installed" in failed["broken_import_pack"].error
    assert "syntax_error_pack.py" in failed["syntax_error_pack"].error
    loaded = {p.name for p in report.loaded}
    assert {"lazy_switch_pack", "list_pack", "loop_pack", "progress_pack", "async_pack", "example_pack"} <= loaded
    assert all(p.name != "ignored_pack" and "disabled" not in p.name for p in report.packs)
    assert "TestNoFunction" not in plugin_env.registry  # the broken class is left out and reported
    assert "missing_method" in report.pack("bad_mapping_pack").node_errors["TestNoFunction"]


def test_builtin_names_cannot_be_replaced(plugin_env):
    clash = plugin_env.report.pack("clash_pack")
    assert clash.loaded and clash.clashes == ["SaveImage"] and clash.nodes == ["TestClashPackNode"]
    assert plugin_env.registry.get("SaveImage").python_module == "nodes"


def test_prestartup_script_runs_before_the_pack_imports(plugin_env):
    pack = plugin_env.report.pack("progress_pack")
    assert sys.modules[pack.module].PRESTARTUP_SEEN is True


def test_compat_modules_are_not_on_sys_path_after_loading_but_stay_importable(plugin_env):
    assert str(COMPAT_DIR) not in sys.path
    import comfy.utils  # noqa: F401 - resolved from sys.modules, as a pack's lazy import is
    import folder_paths

    assert folder_paths.get_output_directory()


def test_whitelist_loads_only_the_named_packs(tmp_path):
    services = make_services(tmp_path)
    registry, report = load_registry(services, [PLUGIN_PACKS], whitelist=["list_pack", "async_pack.py"])
    assert {p.name for p in report.loaded} == {"list_pack", "async_pack"}
    skipped = [p for p in report.packs if p.skipped]
    assert skipped and all(p.error == "not in --whitelist-custom-nodes" for p in skipped)
    assert "TestRange" in registry and "TestLazySwitch" not in registry


def test_same_pack_name_in_two_folders_loads_once_and_names_stay_unique(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    write_pack(first, "dup", v1_pack("DupNode", 1))
    write_pack(second, "dup", v1_pack("DupNode", 2))
    write_pack(first, "my-pack", v1_pack("DashNode"))
    write_pack(first, "my_pack", v1_pack("UnderscoreNode"), package=False)
    (first / "__pycache__").mkdir()
    (first / "__pycache__" / "junk.py").write_text("raise RuntimeError")
    (first / "notes.txt").write_text("not a pack")
    (first / "no_init").mkdir()
    registry = __import__("execution.registry", fromlist=["NodeRegistry"]).NodeRegistry()
    report = load_custom_nodes(registry, [first, second, first], services=make_services(tmp_path / "base"))
    names = [(p.name, p.status) for p in report.packs]
    assert names == [("dup", "loaded"), ("my-pack", "loaded"), ("my_pack", "loaded"), ("dup", "skipped")]
    modules = [p.module for p in report.packs if p.loaded]
    assert len(set(modules)) == 3 and all(m.startswith("plexus_pack_") for m in modules)
    assert {"DupNode", "DashNode", "UnderscoreNode"} <= set(registry.names())


def test_relative_imports_inside_a_package_pack(plugin_env):
    pack = plugin_env.report.pack("lazy_switch_pack")
    assert pack.loaded and f"{pack.module}.nodes" in sys.modules


@pytest.mark.parametrize("body, needle", [
    ("NODE_CLASS_MAPPINGS = ['not', 'a', 'dict']\n", "not a dict"),
    (V1_NODE.format(cls="Node", default=1) + "NODE_CLASS_MAPPINGS = {'X': Node}\nNODE_DISPLAY_NAME_MAPPINGS = 3\n",
     "NODE_DISPLAY_NAME_MAPPINGS"),
    ("import sys\nsys.exit(3)\n", "SystemExit"),
    ("from execution.declare import node\nPLEXUS_NODES = [print]\n", "not declared"),
])
def test_bad_mappings_fail_only_their_pack(tmp_path, body, needle):
    folder = tmp_path / "packs"
    write_pack(folder, "bad", body)
    write_pack(folder, "good", v1_pack("GoodNode"))
    registry = __import__("execution.registry", fromlist=["NodeRegistry"]).NodeRegistry()
    report = load_custom_nodes(registry, [folder], services=make_services(tmp_path / "base"))
    bad, good = report.pack("bad"), report.pack("good")
    assert not bad.loaded and needle in bad.error and bad.nodes == []
    assert good.loaded and "GoodNode" in registry and "X" not in registry


@pytest.mark.parametrize("body, needle", [
    ("NODE_CLASS_MAPPINGS = {'X': 42, 'Y': Node}\n", "not a node class"),
    ("class Bad:\n    @classmethod\n    def INPUT_TYPES(cls):\n        raise KeyError('models folder')\n"
     "    RETURN_TYPES = ()\n    FUNCTION = 'run'\n    def run(self):\n        return ()\n"
     "NODE_CLASS_MAPPINGS = {'X': Bad, 'Y': Node}\n", "INPUT_TYPES failed"),
])
def test_a_broken_class_is_reported_and_the_rest_of_its_pack_registers(tmp_path, body, needle):
    folder = tmp_path / "packs"
    write_pack(folder, "mixed", V1_NODE.format(cls="Node", default=1) + body)
    registry = __import__("execution.registry", fromlist=["NodeRegistry"]).NodeRegistry()
    report = load_custom_nodes(registry, [folder], services=make_services(tmp_path / "base"))
    pack = report.pack("mixed")
    assert pack.loaded and pack.nodes == ["Y"] and "Y" in registry and "X" not in registry
    assert needle in pack.node_errors["X"] and pack.to_json()["node_errors"] == pack.node_errors


def test_plexus_native_pack_without_a_list_exports_its_own_decorated_functions(tmp_path):
    folder = tmp_path / "packs"
    write_pack(folder, "native", '''
        from execution.declare import Int, Out, node
        from nodes.basics.primitives import *  # a decorated built-in imported here is not re-exported

        @node("NativeDouble", category="tmp", inputs=[Int("x", 2)], outputs=[Out("INT")])
        def double(x):
            return (2 * x,)

        NODE_DISPLAY_NAME_MAPPINGS = {"NativeDouble": "Double (native)"}
    ''')
    registry, report = load_registry(make_services(tmp_path / "base"), [folder])
    pack = report.pack("native")
    assert pack.loaded and pack.nodes == ["NativeDouble"] and pack.kind == "plexus" and not pack.clashes
    schema = registry.get("NativeDouble")
    assert schema.display_name == "Double (native)" and schema.python_module == "custom_nodes.native"


def test_import_times_are_printed_sorted():
    report = PluginReport(packs=[PackStatus("slow", Path("/p/slow"), loaded=True, seconds=0.5),
                                 PackStatus("bad", Path("/p/bad"), seconds=0.01),
                                 PackStatus("fast", Path("/p/fast"), loaded=True, seconds=0.001),
                                 PackStatus("skip", Path("/p/skip"), skipped=True)])
    stream = io.StringIO()
    print_import_times(report, stream)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "Import times for custom nodes:"
    assert [line.split(": ")[-1] for line in lines[1:]] == ["/p/fast", "/p/bad", "/p/slow"]
    assert "(IMPORT FAILED)" in lines[2]


def test_report_json_and_extension_urls(plugin_env):
    entries = {e["name"]: e for e in plugin_env.report.to_json()}
    assert entries["progress_pack"]["web_directory"].endswith("js")
    assert entries["broken_import_pack"]["loaded"] is False
    urls = plugin_env.report.extension_urls()
    assert "/extensions/progress_pack/progress_widget.js" in urls
    assert "/extensions/example_pack/example_pack.js" in urls


def test_main_wiring_extra_model_paths_and_disable_flag(tmp_path):
    from app import assembly
    from app.flags import build_parser

    extra = tmp_path / "elsewhere"
    write_pack(extra / "custom_nodes", "from_yaml", v1_pack("FromYamlNode"), package=False)
    config = tmp_path / "extra.yaml"
    config.write_text(f"other:\n  base_path: {extra}\n  custom_nodes: custom_nodes\n")
    base = tmp_path / "base"
    args = build_parser().parse_args(["--base-directory", str(base), "--extra-model-paths-config", str(config)])
    registry, report = assembly.build_registry(args, assembly.build_services(args))
    assert report.pack("from_yaml").loaded and "FromYamlNode" in registry
    args = build_parser().parse_args(["--base-directory", str(base), "--extra-model-paths-config", str(config),
                                           "--disable-all-custom-nodes"])
    registry, report = assembly.build_registry(args, assembly.build_services(args))
    assert report is None and "FromYamlNode" not in registry


def test_disable_all_with_a_whitelist_loads_only_the_whitelisted_packs(tmp_path):
    """ComfyUI's pairing: --disable-all-custom-nodes --whitelist-custom-nodes NAME."""
    from app import assembly
    from app.flags import build_parser

    base = tmp_path / "base"
    write_pack(base / "custom_nodes", "wanted", v1_pack("WantedNode"), package=False)
    write_pack(base / "custom_nodes", "unwanted", v1_pack("UnwantedNode"))
    args = build_parser().parse_args(["--base-directory", str(base), "--disable-all-custom-nodes",
                                           "--whitelist-custom-nodes", "wanted"])
    registry, report = assembly.build_registry(args, assembly.build_services(args))
    assert "WantedNode" in registry and "UnwantedNode" not in registry
    assert report.pack("unwanted").skipped


def test_headless_run_command_uses_plugin_nodes(tmp_path):
    """``main.py run`` loads packs too (no server: plugin routes are recorded, not served)."""
    import json

    import main
    from tests.fixtures.plugins import EXAMPLE_PACKS

    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "ExampleGradient", "inputs": {"width": 16, "height": 16, "direction": "horizontal", "steps": 2}},
        "2": {"class_type": "TestCountWithProgress", "inputs": {"steps": 2, "delay": 0.0, "size": 64}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "plugin_run"}}}))
    base = tmp_path / "base"
    code = main.main(["--base-directory", str(base), "--custom-nodes-dir", str(EXAMPLE_PACKS),
                      "--custom-nodes-dir", str(PLUGIN_PACKS), "run", str(workflow), "--quiet"])
    assert code == 0
    assert (base / "output" / "plugin_run_00001_.png").is_file()
