"""The official workflow templates (``comfyui-workflow-templates-json``, pinned) in the Plexus editor:
every one opens without a page error, and the API prompt the editor builds from it agrees with the
server's own conversion (``execution.workflow.convert_workflow``), two implementations of ComfyUI's
rules checked against each other on the real files. Templates with subgraphs are opened but not
compared input by input: the editor expands subgraphs into groups, which renumbers their nodes."""
from __future__ import annotations

import json

import pytest

from tests.fixtures.templates import TEMPLATES, damage, template_files

pytestmark = pytest.mark.browser

OPEN_AND_CONVERT_JS = """async (workflow) => {
  try {
    await app.loadGraphData(workflow);
    return { output: (await app.graphToPrompt()).output };
  } catch (error) {
    return { error: String(error && error.stack || error).slice(0, 500) };
  }
}"""


def _is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def disagreements(editor_prompt: dict, server_prompt: dict, known_types) -> list[str]:
    """Where the two conversions differ in a way a run would notice. Allowed: the editor drops links
    from node types the server lacks (the server's validation names those nodes instead), and fills an
    optional input's default where the server leaves it to the node."""
    found = []
    for node_id, node in server_prompt.items():
        if node["class_type"] not in known_types:
            continue
        if node_id not in editor_prompt:
            found.append(f"node {node_id} ({node['class_type']}) missing from the editor's prompt")
            continue
        ours = editor_prompt[node_id]["inputs"]
        for name, value in node["inputs"].items():
            feeds_from_unknown = _is_link(value) and server_prompt.get(value[0], {}).get("class_type") not in known_types
            if not feeds_from_unknown and ours.get(name) != value:
                found.append(f"node {node_id} ({node['class_type']}) input {name}: editor {ours.get(name)!r}, "
                             f"server {value!r}")
    return found


def test_every_template_opens_and_converts_as_the_server_does(editor, server_registry):
    from execution.workflow import convert_workflow

    files = template_files()
    assert len(files) == 644
    page_errors: list[str] = []
    editor.page.on("pageerror", lambda error: page_errors.append(str(error)[:300]))
    problems, compared = {}, 0
    for path in files:
        workflow = json.loads(path.read_text())
        result = editor.eval(OPEN_AND_CONVERT_JS, workflow)
        if "error" in result or page_errors:
            problems[path.name] = result.get("error") or page_errors[:]
            page_errors.clear()
            continue
        if (workflow.get("definitions") or {}).get("subgraphs"):
            continue
        server_prompt = convert_workflow(workflow, server_registry).prompt
        found = disagreements(result["output"], server_prompt, server_registry)
        compared += 1
        if found:
            problems[path.name] = found[:3]
    assert not problems, dict(list(problems.items())[:5])
    assert compared > 200  # most templates have no subgraphs


def test_a_primitive_node_feeds_its_value_when_its_first_target_is_unknown(editor):
    """ACE-Step's template: a PrimitiveNode's first link goes to a node type Plexus lacks, its second
    to KSampler's seed; and it is saved before its targets. The seed still comes through."""
    workflow = json.loads((TEMPLATES / "audio_ace_step_1_5_checkpoint.json").read_text())
    output = editor.eval(OPEN_AND_CONVERT_JS, workflow)["output"]
    [sampler] = [node for node in output.values() if node["class_type"] == "KSampler"]
    assert sampler["inputs"]["seed"] == 31


DAMAGED_JS = """async (workflow) => {
  const errors = [];
  const onError = (event) => errors.push(String(event.message || event.reason));
  window.addEventListener("error", onError);
  let opened = "ok";
  try { await app.loadGraphData(workflow); } catch (error) { opened = String(error); }
  for (let i = 0; i < 3; i++) await new Promise(requestAnimationFrame);  // it draws
  let converted = "ok";
  try { await app.graphToPrompt(); } catch (error) { converted = String(error && error.stack || error); }
  window.removeEventListener("error", onError);
  await app.loadGraphData({ nodes: [], links: [], version: 0.4 });  // and still opens the next one
  return { opened, converted, errors };
}"""


def test_damaged_templates_open_draw_and_convert(editor):
    """Seeded damage to real templates (entries deleted or replaced by junk): the editor opens what it can
    read, keeps drawing, and can still build a prompt; it never throws while drawing or queueing. Before
    the files were normalized on load, a null ``config`` broke every frame and non-list ``inputs`` broke
    saving and queueing."""
    import random

    rng = random.Random(2)
    files = template_files()
    broken = []
    for attempt in range(150):
        workflow = json.loads(rng.choice(files).read_text())
        for _ in range(rng.randint(1, 6)):
            damage(workflow, rng)
        result = editor.eval(DAMAGED_JS, workflow)
        if result["converted"] != "ok" or result["errors"]:
            broken.append((attempt, result["converted"][:200], result["errors"][:2]))
    named = {"config": None, "nodes": [{"id": 1, "type": "EmptyImage", "inputs": {}, "outputs": 5}], "links": [[1]]}
    result = editor.eval(DAMAGED_JS, named)
    assert result["converted"] == "ok" and not result["errors"], result
    assert not broken, broken[:3]
