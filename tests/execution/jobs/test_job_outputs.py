"""A job's counts and preview for the jobs list (the fields the official frontend's schema checks)."""
from __future__ import annotations

from execution.jobs.job_outputs import summarize_outputs


def test_a_saved_image_wins_over_temp_previews_and_text():
    outputs = {
        "3": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}], "animated": [False]},
        "9": {"images": [{"filename": "s.png", "subfolder": "x", "type": "output"}]},
        "7": {"text": ["a caption"]},
    }
    summary = summarize_outputs(outputs)
    assert summary["outputs_count"] == 2  # images only: raw text and "animated" are not outputs
    assert summary["previewable_outputs_count"] == 3
    assert summary["preview_output"] == {"filename": "s.png", "subfolder": "x", "type": "output",
                                         "nodeId": "9", "mediaType": "images"}


def test_saved_files_and_text_only_jobs():
    files = {"4": {"text": ["captions/a.txt"], "files": [{"filename": "a.txt", "subfolder": "captions",
                                                          "type": "output"}]}}
    assert summarize_outputs(files)["preview_output"]["mediaType"] == "files"
    long_text = "x" * 2000
    text_only = summarize_outputs({"5": {"text": [long_text]}})
    assert text_only["outputs_count"] == 0 and text_only["previewable_outputs_count"] == 1
    assert text_only["preview_output"] == {"nodeId": "5", "mediaType": "text", "content": "x" * 1024,
                                           "truncated": True}
    odd_type = summarize_outputs({"1": {"images": [{"filename": "a.png", "type": "remote"}]}})["preview_output"]
    assert "type" not in odd_type  # the schema allows only input, output or temp
    assert summarize_outputs({}) == {"outputs_count": 0, "previewable_outputs_count": 0, "preview_output": None}


def test_only_complete_errors_are_reported():
    from execution.jobs.job_outputs import reportable_error

    complete = {"node_id": "3", "node_type": "KSampler", "exception_message": "boom", "exception_type": "ValueError",
                "traceback": ["line 1\n"], "prompt_id": "p"}
    assert reportable_error(complete) is complete
    assert reportable_error(dict(complete, node_id=None)) is None
    assert reportable_error(dict(complete, traceback="text")) is None
    assert reportable_error("worker died") is None
