"""The server's console shows each job as ComfyUI's does: ``got prompt``, a one-line validation
failure, ``Prompt executed in N.NN seconds``, and errors with the node and message."""
from __future__ import annotations

import re
import uuid

from tests.fixtures.server import echo_prompt


def test_console_lines_for_each_job(plexus_server):
    ok_id, failing_id = f"ok-{uuid.uuid4()}", f"fail-{uuid.uuid4()}"
    assert plexus_server.post_json("/prompt", {"prompt": echo_prompt(3), "prompt_id": ok_id,
                                               "client_id": "console-test"}).status == 200
    failing = {"1": {"class_type": "PxTestFail", "inputs": {"message": "the disk is full"}}}
    assert plexus_server.post_json("/prompt", {"prompt": failing, "prompt_id": failing_id}).status == 200
    invalid = {"1": {"class_type": "PxTestEcho", "inputs": {"value": "not a number"}}}
    assert plexus_server.post_json("/prompt", {"prompt": invalid}).status == 400
    plexus_server.wait_for(lambda: "Prompt failed after" in plexus_server.log().split(failing_id, 1)[-1])
    log = plexus_server.log()
    assert f"got prompt {ok_id} (client console-test, 1 nodes)" in log
    assert re.search(rf"got prompt {ok_id}.*\n(?:.*\n)*?Prompt executed in \d+\.\d\d seconds", log)
    assert (f"!!! Exception during processing !!! node 1 (PxTestFail): ValueError: the disk is full"
            in log.split(failing_id, 1)[1])
    assert "invalid prompt: Prompt outputs failed validation: node 1 (PxTestEcho): Failed to convert an input value" in log
    assert "Traceback" not in log.split(failing_id, 1)[1]
