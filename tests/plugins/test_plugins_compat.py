"""ComfyUI's host modules (compat/) bound to a live Plexus: folder_paths, comfy.utils,
comfy.model_management, comfy.comfy_types, comfy_execution, server and the nodes names."""
from __future__ import annotations

import math
import sys

import pytest

from execution.context import InterruptedError_, InterruptFlag, NodeContext, current_node
from tests.fixtures.plugins import load_registry, make_services

# Loading packs into other registries rebinds the compat modules; later modules rely on the shared one.
pytestmark = pytest.mark.usefixtures("restore_compat_binding")


@pytest.fixture(scope="module")
def bound(tmp_path_factory):
    """A registry with the built-ins and one tiny pack; the host modules bound to its services."""
    base = tmp_path_factory.mktemp("compat")
    packs = base / "packs"
    packs.mkdir()
    (packs / "probe.py").write_text(
        "import folder_paths, comfy.utils, comfy.model_management, server, nodes\n"
        "from comfy_execution.graph_utils import GraphBuilder\nNODE_CLASS_MAPPINGS = {}\n")
    services = make_services(base / "root")
    previous = getattr(sys.modules.get("_plexus_binding"), "_host", None)
    registry, report = load_registry(services, [packs])
    assert report.pack("probe").loaded, report.pack("probe").error
    yield registry, report, services
    if previous is not None:  # later modules read folders through the binding this one replaced
        sys.modules["_plexus_binding"].install(previous)


@pytest.fixture
def host(bound):
    """Rebind to this module's registry (other tests may have loaded packs since)."""
    import _plexus_binding

    registry, report, services = bound
    _plexus_binding.install(report.host)
    return report.host


def node_context(services, node_id="7", extra_data=None, events=None, interrupt=None) -> NodeContext:
    return NodeContext(node_id=node_id, display_node_id=node_id, class_type="X", prompt_id="p1", services=services,
                       prompt={}, extra_data=extra_data or {}, emit=(events.append if events is not None else (lambda e: None)),
                       interrupt=interrupt or InterruptFlag())


def test_folder_paths_folders_and_model_listings(host):
    import folder_paths

    paths = host.services.paths
    assert folder_paths.get_output_directory() == str(paths.output_dir)
    assert folder_paths.get_input_directory() == str(paths.input_dir)
    assert folder_paths.get_temp_directory() == str(paths.temp_dir)
    assert folder_paths.models_dir == str(paths.models_dir) and folder_paths.output_directory == str(paths.output_dir)
    checkpoints = paths.models_dir / "checkpoints"
    checkpoints.mkdir(parents=True, exist_ok=True)
    (checkpoints / "tiny.safetensors").write_bytes(b"x")
    assert "tiny.safetensors" in folder_paths.get_filename_list("checkpoints")
    assert folder_paths.get_full_path("checkpoints", "tiny.safetensors") == str((checkpoints / "tiny.safetensors").resolve())
    assert folder_paths.get_full_path("checkpoints", "../../etc/passwd") is None
    with pytest.raises(FileNotFoundError):
        folder_paths.get_full_path_or_raise("checkpoints", "missing.safetensors")
    # ComfyUI's legacy and extra folder names
    assert folder_paths.get_folder_paths("clip") == [str(p) for p in paths.model_folders["text_encoders"]]
    upscale = paths.models_dir / "upscale_models"
    upscale.mkdir(parents=True, exist_ok=True)
    (upscale / "x4.pth").write_bytes(b"x")
    (upscale / "readme.txt").write_text("x")
    assert folder_paths.get_filename_list("upscale_models") == ["x4.pth"]


def test_folder_paths_registration_writes_through(host, tmp_path):
    import folder_paths

    custom = tmp_path / "ipadapter_models"
    custom.mkdir()
    (custom / "a.bin").write_bytes(b"x")
    (custom / "b.yaml").write_text("x")
    folder_paths.folder_names_and_paths["my_kind"] = ([str(custom)], {".yaml"})
    assert folder_paths.get_filename_list("my_kind") == ["b.yaml"]
    assert folder_paths.folder_names_and_paths["my_kind"][0] == [str(custom)]
    extra = tmp_path / "more_loras"
    extra.mkdir()
    (extra / "style.safetensors").write_bytes(b"x")
    folder_paths.add_model_folder_path("loras", str(extra))
    assert "style.safetensors" in folder_paths.get_filename_list("loras")
    assert str(extra) in folder_paths.get_folder_paths("loras")


def test_folder_paths_annotated_names_and_save_paths(host):
    import folder_paths

    paths = host.services.paths
    (paths.output_dir / "done.png").write_bytes(b"x")
    assert folder_paths.get_annotated_filepath("done.png [output]") == str(paths.output_dir / "done.png")
    assert folder_paths.get_annotated_filepath("in.png") == str(paths.input_dir / "in.png")
    assert folder_paths.exists_annotated_filepath("done.png [output]")
    with pytest.raises(ValueError):
        folder_paths.get_annotated_filepath("../../secret.txt")
    folder, stem, counter, subfolder, prefix = folder_paths.get_save_image_path(
        "runs/img_%width%", folder_paths.get_output_directory(), 64, 32)
    assert stem == "img_64" and subfolder == "runs" and counter == 1 and prefix == "runs/img_64"
    (paths.output_dir / "runs" / "img_64_00007_.png").write_bytes(b"x")
    assert folder_paths.get_save_image_path("runs/img_64", folder_paths.get_output_directory())[2] == 8
    with pytest.raises(ValueError):
        folder_paths.get_save_image_path("../escape/x", folder_paths.get_output_directory())


def test_load_torch_file_reads_safetensors_and_refuses_pickles(host, tmp_path):
    import comfy.utils
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2, 3)}, str(tmp_path / "w.safetensors"), metadata={"k": "v"})
    state, metadata = comfy.utils.load_torch_file(str(tmp_path / "w.safetensors"), return_metadata=True)
    assert torch.equal(state["w"], torch.ones(2, 3)) and metadata == {"k": "v"}
    torch.save({"w": torch.ones(1)}, str(tmp_path / "w.ckpt"))
    for name in ("w.ckpt", "w.pt", "w.bin", "w.pth"):
        with pytest.raises(ValueError, match="safetensors"):
            comfy.utils.load_torch_file(str(tmp_path / name), safe_load=True)


def test_save_torch_file_writes_channels_last_weights(host, tmp_path):
    import comfy.utils
    import torch

    weight = torch.randn(4, 3, 3, 3).contiguous(memory_format=torch.channels_last)  # as Plexus keeps conv weights
    comfy.utils.save_torch_file({"w": weight}, str(tmp_path / "w.safetensors"), metadata={"k": "v"})
    assert torch.equal(comfy.utils.load_torch_file(str(tmp_path / "w.safetensors"))["w"], weight)


def test_common_upscale_methods_and_center_crop(host):
    import comfy.utils
    import torch

    samples = torch.rand(2, 3, 16, 32)
    for method in ("nearest-exact", "bilinear", "area", "bicubic", "bislerp", "lanczos"):
        out = comfy.utils.common_upscale(samples, 20, 10, method, "disabled")
        assert out.shape == (2, 3, 10, 20), method
    ramp = torch.arange(32.0).view(1, 1, 1, 32).expand(1, 1, 16, 32)
    cropped = comfy.utils.common_upscale(ramp, 16, 16, "nearest-exact", "center")
    assert cropped.shape == (1, 1, 16, 16) and cropped[0, 0, 0, 0] == 8 and cropped[0, 0, 0, -1] == 23


def test_progress_bar_reports_to_the_running_node(host):
    import comfy.utils

    comfy.utils.ProgressBar(3).update(1)  # outside a node: nothing to report, no error
    events: list = []
    ctx = node_context(host.services, events=events)
    token = current_node.set(ctx)
    try:
        bar = comfy.utils.ProgressBar(4)
        bar.update(1)
        bar.update_absolute(3, preview=("JPEG", None, 512))
        bar.update(5)  # clamped to the total
    finally:
        current_node.reset(token)
    assert [(e.value, e.max, e.node) for e in events] == [(1, 4, "7"), (3, 4, "7"), (4, 4, "7")]


def test_model_management_interrupt_and_devices(host):
    import comfy.model_management as mm
    import torch

    assert mm.InterruptProcessingException is InterruptedError_
    flag = InterruptFlag()
    token = current_node.set(node_context(host.services, interrupt=flag))
    try:
        mm.throw_exception_if_processing_interrupted()
        assert mm.processing_interrupted() is False
        flag.set()
        assert mm.processing_interrupted() is True
        with pytest.raises(mm.InterruptProcessingException):
            mm.throw_exception_if_processing_interrupted()
    finally:
        current_node.reset(token)
    assert mm.get_torch_device() == torch.device("cpu")  # the services were built with force_cpu
    assert mm.intermediate_device() == torch.device("cpu")
    mm.soft_empty_cache()
    mm.unload_all_models()
    assert mm.get_free_memory() > 0


def test_comfy_types(host):
    from comfy.comfy_types import IO, ComfyNodeABC, InputTypeDict

    assert IO.IMAGE == "IMAGE" and IO.NUMBER == "FLOAT,INT"
    assert not (IO.ANY != "IMAGE") and not ("LATENT" != IO.ANY)
    assert IO.IMAGE != "MASK"
    assert {IO.INT: 1}["INT"] == 1

    class Node(ComfyNodeABC):
        @classmethod
        def INPUT_TYPES(cls) -> InputTypeDict:
            return {"required": {"x": (IO.INT, {})}}

    assert Node.INPUT_TYPES()["required"]["x"][0] == "INT"


def test_graph_builder_prefixes_are_unique_per_node_call(host):
    from comfy_execution.graph_utils import GraphBuilder, is_link

    token = current_node.set(node_context(host.services, node_id="12"))
    try:
        first, second = GraphBuilder(), GraphBuilder()
    finally:
        current_node.reset(token)
    a = first.node("TestAddInt", a=1, b=2)
    b = first.node("TestAddInt", "named", a=a.out(0))
    assert a.id == "12.0.0.1" and b.id == "12.0.0.named" and second.prefix == "12.0.1."
    assert first.lookup_node("named") is b and is_link(b.get_input("a")) and not is_link([4, 0])
    graph = first.finalize()
    assert graph["12.0.0.named"] == {"class_type": "TestAddInt", "inputs": {"a": ["12.0.0.1", 0]}}
    assert GraphBuilder().prefix != GraphBuilder().prefix  # outside a node: still unique


def test_prompt_server_instance_without_a_server(host):
    from server import PromptServer

    @PromptServer.instance.routes.post("/probe/route")
    async def handler(request):  # pragma: no cover - never served here
        return None

    assert ("POST", "/probe/route", handler) in list(host.server.routes)
    token = current_node.set(node_context(host.services, extra_data={"client_id": "client-9"}))
    try:
        assert PromptServer.instance.client_id == "client-9"
        PromptServer.instance.send_sync("probe.event", {"x": 1}, PromptServer.instance.client_id)
    finally:
        current_node.reset(token)
    assert host.server.sent[-1] == ("probe.event", {"x": 1}, "client-9")
    assert PromptServer.instance == host.server
    with pytest.raises(TypeError):
        PromptServer()


def test_nodes_module_offers_comfy_names(host, bound):
    import torch

    import nodes

    assert nodes.MAX_RESOLUTION == 16384
    from nodes import MAX_RESOLUTION, SaveImage  # noqa: F401 - ComfyUI's import style

    assert SaveImage.FUNCTION == "save_images" and SaveImage.OUTPUT_NODE is True
    assert "images" in SaveImage.INPUT_TYPES()["required"]
    result = SaveImage().save_images(torch.rand(1, 8, 8, 3), "compat/probe")
    saved = result["ui"]["images"][0]
    assert saved["subfolder"] == "compat" and (host.services.paths.output_dir / "compat" / saved["filename"]).is_file()
    assert "SaveImage" in nodes.NODE_CLASS_MAPPINGS and nodes.NODE_CLASS_MAPPINGS["SaveImage"] is SaveImage
    assert nodes.NODE_DISPLAY_NAME_MAPPINGS["SaveImage"]
    with pytest.raises(AttributeError):
        nodes.NoSuchNodeAnywhere
    assert callable(nodes.register_builtin_nodes)  # Plexus's own package still works


def test_nodes_mappings_hold_plugin_v1_classes(plugin_env):
    import _plexus_binding

    import nodes

    _plexus_binding.install(plugin_env.report.host)
    cls = nodes.NODE_CLASS_MAPPINGS["TestRange"]
    assert cls.__name__ == "Range" and cls().make(2) == ([0, 1],)
    assert math.isnan(nodes.NODE_CLASS_MAPPINGS["TestChangedNaN"].IS_CHANGED(value=1))


def test_sampler_names_come_from_the_builtin_ksampler(host):
    import comfy.samplers

    ksampler = host.registry.get("KSampler")
    expected = ksampler.inputs()["sampler_name"].current_choices(host.services)
    assert comfy.samplers.KSampler.SAMPLERS == expected and "euler" in expected
    assert comfy.samplers.KSampler.SCHEDULERS == ksampler.inputs()["scheduler"].current_choices(host.services)
    assert comfy.samplers.SAMPLER_NAMES == expected


def test_custom_nodes_folders_are_listed(host):
    import folder_paths

    folders, _ = folder_paths.folder_names_and_paths["custom_nodes"]
    assert folders == [str(p) for p in host.services.paths.custom_node_dirs]
    assert "checkpoints" in folder_paths.folder_names_and_paths
