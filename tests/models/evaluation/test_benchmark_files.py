"""Benchmark files: every format, bad rows with their line numbers, lazy reading, confinement."""
from __future__ import annotations

import json
import tracemalloc

import pytest

from models.demo.evaluation import write_demo_benchmarks, write_mmbench_tsv
from models.evaluation.benchmark_files import Benchmark, BenchmarkFormatError, open_images
from models.evaluation.items import MULTIPLE_CHOICE, YES_NO
from models.folders import UnsafePath


@pytest.fixture
def demo_files(tmp_path):
    write_demo_benchmarks(tmp_path / "models", input_dir=tmp_path / "input")
    return tmp_path / "input" / "benchmarks"


def test_mmbench_tsv_items_and_pictures(demo_files):
    bench = Benchmark(demo_files / "demo_mmbench.tsv")
    assert bench.format == "mmbench" and len(bench) == 4 and not bench.errors
    items = list(bench)
    assert [i.item_id for i in items] == ["0", "1", "2", "3"]
    first = items[0]
    assert first.kind == MULTIPLE_CHOICE and len(first.options) == 4 and first.answer == "A"
    assert first.category == "shape" and first.line == 2
    assert [i.answer for i in items] == ["A", "B", "C", "D"]  # the answer moves through every position
    pictures = open_images(first, bench.path)
    assert len(pictures) == 1 and pictures[0].size == (48, 48) and pictures[0].mode == "RGB"
    assert bench.item(3) == items[3]


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_run(tmp_path):
    target = tmp_path / "mixed.tsv"
    write_mmbench_tsv(target)
    lines = target.read_text().splitlines()
    header = lines[0].split("\t")
    broken = lines[2].split("\t")
    broken[header.index("answer")] = "F"  # not an option
    no_question = lines[3].split("\t")
    no_question[header.index("question")] = ""
    lines[2], lines[3] = "\t".join(broken), "\t".join(no_question)
    lines.insert(4, "only\ttwo")
    target.write_text("\n".join(lines) + "\n")
    bench = Benchmark(target)
    assert [e.line for e in bench.errors] == [3, 4, 5]
    assert "answer 'F'" in str(bench.errors[0]) and "no question" in str(bench.errors[1])
    assert "2 fields" in str(bench.errors[2])
    assert [i.item_id for i in bench] == ["0", "3"]


def test_pope_probes_take_their_split_from_the_file_name(demo_files):
    bench = Benchmark(demo_files / "demo_pope_adversarial.jsonl")
    assert bench.format == YES_NO and len(bench) == 8
    item = bench.item(1)
    assert item.answer == "no" and item.split == "adversarial" and item.options == ("yes", "no")
    assert open_images(item, bench.path)[0].size == (48, 48)


def test_mmmu_style_items_have_several_pictures_and_literal_option_lists(demo_files, tmp_path):
    bench = Benchmark(demo_files / "demo_mmmu.jsonl")
    item = bench.item(0)
    assert len(item.images) == 2 and item.options[2] == "neither" and item.category == "Art"
    assert len(open_images(item, bench.path)) == 2
    target = tmp_path / "literal.jsonl"  # MMMU's own exports write options as a Python list literal
    target.write_text(json.dumps({"question": "q", "options": "['x', \"y's\"]", "answer": "y's"}) + "\n")
    assert Benchmark(target).item(0).options == ("x", "y's") and Benchmark(target).item(0).answer == "B"


def test_generic_csv_and_jsonl_multiple_choice(tmp_path):
    csv_file = tmp_path / "quiz.csv"
    csv_file.write_text("id,question,A,B,C,answer,category\nq1,\"Pick, carefully\",cat,dog,,dog,animals\n"
                        "q2,Which?,x,y,z,C,letters\nq3,Bad,x,,,A,letters\n")
    bench = Benchmark(csv_file)
    assert bench.format == MULTIPLE_CHOICE and len(bench) == 2 and bench.errors[0].line == 4
    assert bench.item(0).question == "Pick, carefully" and bench.item(0).answer == "B"
    assert bench.item(1).options == ("x", "y", "z")


def test_unreadable_files_get_clear_errors(tmp_path):
    array_file = tmp_path / "array.json"
    array_file.write_text("[{\"question\": \"q\"}]")
    with pytest.raises(BenchmarkFormatError, match="JSON lines"):
        Benchmark(array_file)
    odd = tmp_path / "notes.txt"
    odd.write_text("x")
    with pytest.raises(BenchmarkFormatError):
        Benchmark(odd)
    jsonl = tmp_path / "broken.jsonl"
    jsonl.write_text('{"question": "q", "options": ["a", "b"], "answer": "A"}\n{not json\n[1, 2]\n')
    bench = Benchmark(jsonl)
    assert len(bench) == 1 and [e.line for e in bench.errors] == [2, 3]


def test_image_paths_stay_inside_the_benchmark_folder(tmp_path):
    (tmp_path / "b").mkdir()
    target = tmp_path / "b" / "escape.jsonl"
    target.write_text(json.dumps({"image": "../../etc/passwd", "text": "Is it?", "label": "yes"}) + "\n")
    bench = Benchmark(target)
    with pytest.raises(UnsafePath):
        open_images(bench.item(0), bench.path)


def test_a_large_file_is_read_lazily(tmp_path):
    target = tmp_path / "big.tsv"
    write_mmbench_tsv(target)
    header, *rows = target.read_text().splitlines()
    with target.open("w") as handle:
        handle.write(header + "\n")
        for n in range(10_000):
            handle.write(rows[n % len(rows)] + "\n")
    tracemalloc.start()
    bench = Benchmark(target)
    held_after_open = tracemalloc.get_traced_memory()[0]
    peak_while_reading = 0
    for count, item in enumerate(bench, 1):
        peak_while_reading = max(peak_while_reading, tracemalloc.get_traced_memory()[0])
    tracemalloc.stop()
    assert count == 10_000 and len(bench) == 10_000
    size = target.stat().st_size
    assert held_after_open < 200_000 < size  # ~12 bytes an item, not the file
    assert peak_while_reading < held_after_open + 100_000  # one item at a time
