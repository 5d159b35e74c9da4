"""The suite runs in the project's own virtual environment, and every requirement is installed in
it: a package that happens to be installed globally can never stand in for a missing one (issue 12;
`make` builds ``.venv`` with ``python3 -m venv``, without system site-packages)."""
from __future__ import annotations

import re
import site
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def requirement_names(file_name: str) -> list[str]:
    names: list[str] = []
    for line in (ROOT / file_name).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            names += requirement_names(line[3:].strip())
        elif line:
            names.append(re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0])
    return names


def test_the_suite_runs_in_a_virtual_environment_without_global_packages():
    assert sys.prefix != sys.base_prefix, f"not a virtual environment: {sys.executable}"
    config = (Path(sys.prefix) / "pyvenv.cfg").read_text()
    assert re.search(r"include-system-site-packages\s*=\s*false", config)
    global_site = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    assert not site.ENABLE_USER_SITE and str(global_site) not in sys.path


def test_every_requirement_is_installed_in_the_environment():
    prefix = Path(sys.prefix).resolve()
    for name in requirement_names("requirements-dev.txt"):
        installed = Path(metadata.distribution(name).locate_file("")).resolve()
        assert installed.is_relative_to(prefix), f"{name} comes from {installed}, outside {prefix}"
