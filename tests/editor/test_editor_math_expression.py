"""ComfyMathExpression in the Plexus editor: its named Autogrow sockets (values.a, values.b...) grow
with links, the prompt carries the dotted names, and the queued graph shows the result."""
from __future__ import annotations

import pytest

from tests.editor.test_editor import BUILD_GRAPH_JS
pytestmark = pytest.mark.browser


SOCKETS_JS = "(id) => app.graph.getNodeById(id).inputs.map((slot) => slot.name).filter((n) => n.startsWith('values.'))"


def test_named_sockets_grow_and_the_formula_runs(editor, editor_server):
    first, second, math, preview = editor.eval(BUILD_GRAPH_JS, [
        ["PrimitiveInt", {"value": 40}],
        ["PrimitiveFloat", {"value": 2.5}],
        ["ComfyMathExpression", {"expression": "a * b + 1"}, [[0, 0, "values.a"]]],
        ["PreviewAny", {}, [[2, 1, "source"]]]])
    assert editor.eval(SOCKETS_JS, math) == ["values.a", "values.b"]
    editor.eval("([b, m]) => app.graph.getNodeById(b).connect(0, app.graph.getNodeById(m), 'values.b')",
                [second, math])
    assert editor.eval(SOCKETS_JS, math) == ["values.a", "values.b", "values.c"]
    prompt = editor.eval("app.graphToPrompt().then((r) => r.output)")
    assert prompt[str(math)]["inputs"] == {"expression": "a * b + 1", "values.a": [str(first), 0],
                                           "values.b": [str(second), 0]}
    editor.eval("app.queuePrompt(0, 1)")
    editor.page.wait_for_function(f"app.graph.getNodeById({preview}).runState?.text === '101'", timeout=60000)
