"""The layout's rules, read from the source with ``ast``: arrows point one way
(``web -> execution <- nodes -> models``), the core stays free of frameworks, node modules import
nothing heavy at module level, and every file in ``execution/`` reads in one sitting.

Each rule is a function over a source tree, so the last test can plant one violation of each in a
scratch tree and show that the rule trips."""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = ("app", "execution", "nodes", "models", "web", "compat")
# Which of our top-level packages each one may import. ``models.folders`` is the torch-free folder
# service the web routes use for listings and confinement; ``models.safe_files`` the torch-free
# atomic writes and image pixel budget they share with the save nodes.
ALLOWED = {
    "execution": set(),
    "models": set(),
    "nodes": {"execution", "models"},
    "web": {"execution", "models.folders", "models.safe_files"},
    "compat": {"execution", "models", "nodes"},  # ComfyUI's module names, backed by all of Plexus
    "app": {"execution", "models", "nodes", "web"},
    "main": {"app", "models"},
}
FRAMEWORKS = ("torch", "diffusers", "transformers", "accelerate", "cv2", "scipy", "safetensors", "ray")
CORE_FORBIDDEN = {"torch", "aiohttp", "diffusers", "transformers", "numpy", "web", "nodes", "models", "app", "main"}
HEAVY_AT_IMPORT = {"torch", "diffusers", "transformers", "accelerate", "cv2", "scipy"}
MAX_CORE_LINES = 500


@dataclass(frozen=True)
class ImportSite:
    module: str  # the importing module, dotted
    target: str  # the imported module, dotted
    top_level: bool  # executed when the module is imported (not inside a function)
    line: int


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path) -> list[Path]:
    files = [root / "main.py"] if (root / "main.py").exists() else []
    for package in SOURCE_PACKAGES:
        files += sorted((root / package).rglob("*.py")) if (root / package).is_dir() else []
    return files


def imports_of(root: Path, path: Path) -> list[ImportSite]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    name = module_name(root, path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[ImportSite] = []

    def visit(node: ast.AST, top_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(ImportSite(name, alias.name, top_level, child.lineno) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:  # relative: resolve against the package
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                found.append(ImportSite(name, target, top_level, child.lineno))
                found.extend(ImportSite(name, f"{target}.{alias.name}", top_level, child.lineno)
                             for alias in child.names if alias.name != "*")
            is_function = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            # An ``if TYPE_CHECKING:`` block never runs: not a runtime import.
            is_type_checking = isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test)
            visit(child, top_level and not is_function and not is_type_checking)

    visit(tree, True)
    return found


def all_imports(root: Path) -> list[ImportSite]:
    return [site for path in source_files(root) for site in imports_of(root, path)]


def top(name: str) -> str:
    return name.split(".")[0]


def direction_violations(root: Path) -> list[str]:
    problems = []
    for site in all_imports(root):
        source, target = top(site.module), top(site.target)
        if target == source or target not in ALLOWED:
            continue
        allowed = ALLOWED.get(source, set())
        if not any(site.target == rule or site.target.startswith(rule + ".") or target == rule for rule in allowed):
            problems.append(f"{site.module}:{site.line} imports {site.target} ({source} -> {target} is not allowed)")
    return problems


def package_cycles(root: Path) -> list[str]:
    graph: dict[str, set[str]] = {}
    for site in all_imports(root):
        source, target = top(site.module), top(site.target)
        if source != target and target in ALLOWED:
            graph.setdefault(source, set()).add(target)
    cycles, state = [], {}

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else f"{node} -> {nxt}")
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return cycles


def core_violations(root: Path) -> list[str]:
    problems = []
    for site in all_imports(root):
        if top(site.module) == "execution" and top(site.target) in CORE_FORBIDDEN:
            problems.append(f"{site.module}:{site.line} imports {site.target} (the core stays framework-free)")
        if (top(site.module) == "execution" and top(site.target) in FRAMEWORKS
                and not site.module.startswith("execution.cluster")):
            problems.append(f"{site.module}:{site.line} imports {site.target} (only execution.cluster may use ray)")
    return problems


def heavy_node_imports(root: Path) -> list[str]:
    """Node modules whose import (followed through our own module-level imports) loads a framework."""
    by_module: dict[str, list[ImportSite]] = {}
    for site in all_imports(root):
        if site.top_level:
            by_module.setdefault(site.module, []).append(site)
    problems = []
    for module in sorted(m for m in by_module if top(m) == "nodes"):
        seen, stack = {module}, [(module, [module])]
        while stack:
            current, chain = stack.pop()
            for site in by_module.get(current, []):
                if top(site.target) in HEAVY_AT_IMPORT:
                    problems.append(f"{' -> '.join(chain)} imports {site.target} at module level")
                elif site.target in by_module and site.target not in seen:
                    seen.add(site.target)
                    stack.append((site.target, chain + [site.target]))
    return problems


def long_core_files(root: Path) -> list[str]:
    return [f"{path.relative_to(root)}: {count} lines (limit {MAX_CORE_LINES})"
            for path in sorted((root / "execution").rglob("*.py"))
            if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_CORE_LINES]


def main_importers(root: Path) -> list[str]:
    return [f"{site.module}:{site.line} imports main (main.py is the entry point, not a library)"
            for site in all_imports(root) if top(site.target) == "main" and site.module != "main"]


RULES = (direction_violations, package_cycles, core_violations, heavy_node_imports, long_core_files, main_importers)


def test_the_source_tree_keeps_every_rule():
    problems = [problem for rule in RULES for problem in rule(ROOT)]
    assert problems == []


def test_each_rule_trips_on_a_planted_violation(tmp_path):
    def write(relative: str, text: str) -> None:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for package in SOURCE_PACKAGES:
        write(f"{package}/__init__.py", "")
    write("main.py", "from app import assembly\n")
    write("execution/runner.py", "def run():\n    import web.server\n")  # direction + core
    write("web/server.py", "from execution import runner\n")
    write("execution/long.py", "x = 1\n" * (MAX_CORE_LINES + 1))
    write("nodes/image/heavy.py", "from models.loader import load\n")  # heavy through models
    write("models/loader.py", "import torch\n\ndef load():\n    pass\n")
    write("models/back.py", "from nodes.image import heavy\n")  # models -> nodes: direction + cycle
    write("execution/cluster/actor.py", "def build():\n    import main\n")

    assert any("execution -> web" in p for p in direction_violations(tmp_path))
    assert any("models -> nodes" in p for p in direction_violations(tmp_path))
    assert any("nodes" in c and "models" in c for c in package_cycles(tmp_path))
    assert any("execution.runner" in p and "web.server" in p for p in core_violations(tmp_path))
    assert heavy_node_imports(tmp_path) == ["nodes.image.heavy -> models.loader imports torch at module level"]
    assert long_core_files(tmp_path) == [f"execution/long.py: {MAX_CORE_LINES + 1} lines (limit {MAX_CORE_LINES})"]
    assert main_importers(tmp_path) == ["execution.cluster.actor:2 imports main (main.py is the entry point, not a library)"]
