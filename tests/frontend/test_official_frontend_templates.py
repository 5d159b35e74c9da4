"""ComfyUI's official frontend as the reference for converting a workflow into an API prompt: on the
official templates whose node types Plexus all has (46 of the 644 in ``comfyui-workflow-templates-json``),
the prompt the frontend builds (``app.graphToPrompt``, against Plexus's ``/object_info``) agrees with the
server's own ``convert_workflow``, and a workflow saved by either editor opens in the other as the same
graph. Two differences are the frontend's choices, not errors: it fills an optional input's default
where the server leaves it to the node (allowed below), and it renumbers a subgraph's inner node whose
id is also a top-level id (one template; the prompt ids differ, the graph does not: left out)."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from tests.fixtures.browser import VIEWPORT, launch_server
from tests.fixtures.templates import template_files

pytestmark = pytest.mark.browser

FRONTEND_ONLY = {"Note", "MarkdownNote", "Reroute", "PrimitiveNode"}
QUIET_SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Notification.ShowVersionUpdates": False,
                  "Comfy.Workflow.ShowMissingModelsWarning": False, "Comfy.Workflow.ShowMissingNodesWarning": False}


def _nodes(workflow: dict) -> tuple[list[dict], list[dict]]:
    """(top-level nodes, nodes inside subgraph definitions)."""
    definitions = (workflow.get("definitions") or {}).get("subgraphs") or []
    return list(workflow.get("nodes") or []), [n for d in definitions for n in d.get("nodes") or []]


def comparable(workflow: dict, registry) -> bool:
    top, inner = _nodes(workflow)
    subgraph_ids = {d.get("id") for d in (workflow.get("definitions") or {}).get("subgraphs") or []}
    types = {n.get("type") for n in top + inner} - subgraph_ids - FRONTEND_ONLY
    renumbered = {n.get("id") for n in inner} & {n.get("id") for n in top}
    return all(t in registry for t in types) and not renumbered


@pytest.fixture(scope="module")
def official_page(chromium_browser, tmp_path_factory):
    server = launch_server(tmp_path_factory.mktemp("frontend-templates"), ["--front-end", "comfyui"])
    server.post_json("/api/settings", QUIET_SETTINGS)
    context = chromium_browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_function("window.app?.graph?.nodes?.length > 0 && window.LiteGraph?.registered_node_types",
                           timeout=90000)
    yield page
    context.close()
    server.stop()


def test_the_official_frontend_and_the_server_convert_templates_alike(official_page, server_registry):
    from execution.workflow import convert_workflow

    files = template_files()
    chosen = [p for p in files if comparable(json.loads(p.read_text()), server_registry)]
    assert len(chosen) >= 40
    differences = {}
    for path in chosen:
        reference = official_page.evaluate("""async (workflow) => {
            await app.loadGraphData(workflow);
            return (await app.graphToPrompt()).output; }""", json.loads(path.read_text()))
        ours = convert_workflow(json.loads(path.read_text()), server_registry).prompt
        found = [f"node {node_id} missing" for node_id in set(reference) ^ set(ours)]
        for node_id in set(reference) & set(ours):
            theirs, mine = reference[node_id], ours[node_id]
            schema_inputs = server_registry.get(mine["class_type"]).inputs()
            for name in set(theirs["inputs"]) | set(mine["inputs"]):
                if theirs["inputs"].get(name) == mine["inputs"].get(name):
                    continue
                default_filled = name not in mine["inputs"] and schema_inputs.get(name) is not None \
                    and schema_inputs[name].section == "optional"
                if not default_filled:
                    found.append(f"{node_id} {mine['class_type']}.{name}: frontend {theirs['inputs'].get(name)!r}, "
                                 f"server {mine['inputs'].get(name)!r}")
        if found:
            differences[path.name] = found[:3]
    assert not differences, differences


def _structure(prompt: dict) -> Counter:
    """The prompt as a multiset of nodes, each named by its class, constants and (recursively) its
    sources instead of its id: equal for two prompts of the same graph numbered differently (the
    Plexus editor expands subgraphs into groups, with new ids)."""
    names: dict[str, tuple] = {}

    def name(node_id: str) -> tuple:
        if node_id not in names:
            node, parts = prompt[node_id], []
            for key, value in sorted(node["inputs"].items()):
                linked = isinstance(value, list) and len(value) == 2 and value[0] in prompt
                parts.append((key, name(value[0]), value[1]) if linked else (key, json.dumps(value, sort_keys=True)))
            names[node_id] = (node["class_type"], tuple(parts))
        return names[node_id]

    return Counter(name(node_id) for node_id in prompt)


CONVERT_JS = """async (workflow) => { await app.loadGraphData(workflow); return await app.graphToPrompt(); }"""


def test_workflows_saved_by_either_editor_open_the_same_in_the_other(official_page, editor, server_registry):
    """A user moves between the two editors: what the Plexus editor saves, the official frontend opens
    into the same prompt, and the other way round (compared by structure: node ids may differ)."""
    files = template_files()
    chosen = [p for p in files if comparable(json.loads(p.read_text()), server_registry)]
    differences = []
    for path in chosen:
        workflow = json.loads(path.read_text())
        ours = editor.eval(CONVERT_JS, workflow)
        if _structure(official_page.evaluate(CONVERT_JS, ours["workflow"])["output"]) != _structure(ours["output"]):
            differences.append(f"{path.name}: saved by Plexus, opened by the official frontend")
        theirs = official_page.evaluate(CONVERT_JS, workflow)
        if _structure(editor.eval(CONVERT_JS, theirs["workflow"])["output"]) != _structure(theirs["output"]):
            differences.append(f"{path.name}: saved by the official frontend, opened by Plexus")
    assert not differences, differences[:5]
