"""``EvalReport``: several results side by side, as a table, a chart, and files in ``output/``."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from execution.declare import In, Out, String, node


@node("EvalReport", display_name="Evaluation Report", category="evaluation", output_node=True,
      inputs=[In("result_1", "EVAL_RESULT"), In("result_2", "EVAL_RESULT", optional=True),
              In("result_3", "EVAL_RESULT", optional=True), In("result_4", "EVAL_RESULT", optional=True),
              String("filename_prefix", "evaluation/report")],
      outputs=[Out("STRING", "table"), Out("IMAGE", "chart")])
def eval_report(ctx, result_1, result_2=None, result_3=None, result_4=None,
                filename_prefix: str = "evaluation/report"):
    """Compare up to four models or settings: a Markdown table, a grouped bar chart per category,
    and ``<prefix>_NNNNN_.csv`` plus ``<prefix>_NNNNN_.jsonl`` (every per-item prediction) in output/."""
    from models.evaluation.report import bar_chart, csv_text, markdown_table
    from nodes.image.tensor_ops import pil_to_tensor

    results = [r for r in (result_1, result_2, result_3, result_4) if r is not None]
    folder, stem, counter, subfolder = ctx.services.paths.save_path(filename_prefix)
    table_path = folder / f"{stem}_{counter:05}_.csv"
    rows_path = folder / f"{stem}_{counter:05}_.jsonl"
    _write_new(table_path, csv_text(results))
    _write_new(rows_path, "".join(json.dumps({"name": r.name, **row}, ensure_ascii=False, default=str) + "\n"
                                  for r in results for row in r.records))
    table = markdown_table(results)
    files = [{"filename": p.name, "subfolder": subfolder, "type": "output"} for p in (table_path, rows_path)]
    return {"ui": {"text": [table], "files": files},
            "result": (table, pil_to_tensor(bar_chart(results)))}


def _write_new(target: Path, content: str) -> None:
    """Write through an unpredictable temporary name (created exclusively, never through a link,
    with the user's umask), then rename into place."""
    temporary = target.with_name(f".partial-{secrets.token_hex(8)}")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(content)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
