"""The import picture of the package, checked on the source with ast (no imports run).

Only the ui package imports rich, only the cli package imports typer, the core never reaches up into ui/cli,
nothing prints, and each module's charnn.* imports are exactly those in DEPENDENCIES below: a new edge
between modules is a design decision, so it has to be made here too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "charnn"


def module_name(path: Path) -> str:
    """charnn/ui/training.py → ui.training; charnn/ui/__init__.py → ui; charnn/__init__.py stays __init__."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


MODULES = sorted(module_name(p) for p in PACKAGE.rglob("*.py"))
PACKAGES = {"cli", "ui"}  # a package's name stands for its modules in the rules below
CORE = ["batch_rows", "batches", "checkpoint", "checkpoint_arrays", "checkpoint_checks", "config", "corpus_cache",
        "cpu_flags", "data", "documents", "drawing", "encodings", "errors", "evaluation", "events", "lstm_int8",
        "mersenne", "model", "optimization", "paths", "planning", "precision", "presets", "products", "reading",
        "recorder", "recurrence", "resuming", "run_lock", "runs", "sample", "script", "speed", "stepper", "threads",
        "train", "vocab"]

# module → the charnn modules it imports (anywhere in the file, lazy imports inside functions included).
DEPENDENCIES = {
    "__init__": set(),  # public names are resolved lazily from strings (see test_public_names)
    "__main__": {"cli", "cli.command"},
    "batch_rows": {"vocab"},
    "batches": {"errors"},
    "checkpoint": {"checkpoint_checks", "errors", "model"},
    "checkpoint_arrays": {"checkpoint_checks", "config", "cpu_flags", "recurrence"},
    "checkpoint_checks": {"config", "errors"},
    "cli": {"cli.command", "cli.inspecting", "cli.options", "cli.sampling", "cli.train_stop", "cli.training"},
    "cli.command": {"cli.usage", "corpus_cache", "data", "threads", "ui"},
    "cli.inspecting": {"checkpoint", "checkpoint_checks", "cli.command", "cli.options",
                       "cli.run_list", "config", "data", "errors", "evaluation", "precision", "runs", "sample",
                       "threads", "ui", "vocab"},
    "cli.run_list": {"errors", "runs", "ui"},
    "cli.options": {"errors", "ui"},
    "cli.sampling": {"batch_rows", "checkpoint", "checkpoint_arrays", "checkpoint_checks", "cli.command",
                     "cli.options", "cli.sigterm", "cli.stopping", "config", "documents", "drawing", "errors",
                     "interactive", "mersenne", "runs", "sample", "threads", "ui", "vocab"},
    "cli.sigterm": {"cli.stopping"},
    "cli.stopping": {"documents", "errors", "ui"},
    "cli.usage": {"ui"},
    "cli.train_checks": {"checkpoint", "errors", "resuming", "run_lock", "runs", "ui"},
    "cli.train_stop": {"ui"},
    "cli.training": {"cli.command", "cli.options", "cli.train_checks", "cli.train_stop", "config", "data", "encodings",
                     "errors", "planning", "run_lock", "train", "ui", "vocab"},
    "config": {"errors"},
    "corpus_cache": {"errors", "vocab"},
    "cpu_flags": set(),
    "data": {"corpus_cache", "errors", "paths", "reading", "vocab"},
    "encodings": set(),
    "paths": {"errors"},
    "reading": {"encodings", "errors"},
    "errors": set(),
    "evaluation": {"errors", "model", "precision"},
    "events": {"config"},
    "interactive": {"drawing", "errors", "mersenne", "sample", "ui", "vocab"},
    "lstm_int8": {"model", "products"},
    "mersenne": set(),
    "model": {"config"},
    "planning": {"checkpoint", "config", "data", "errors", "precision", "presets"},
    "precision": {"cpu_flags", "errors"},
    "presets": {"config", "speed"},
    "speed": {"config", "model", "precision"},
    "products": {"precision", "recurrence"},
    "recurrence": {"config"},
    "run_lock": {"errors"},
    "runs": {"checkpoint", "checkpoint_arrays", "errors", "paths", "run_lock", "vocab"},
    "sample": {"batch_rows", "checkpoint_arrays", "drawing", "mersenne", "model", "recurrence", "script", "stepper",
               "threads", "vocab"},
    "drawing": {"config", "errors", "mersenne"},
    "script": set(),
    "documents": {"script"},
    "stepper": {"config", "lstm_int8", "model", "products", "recurrence", "threads"},
    "threads": set(),
    "train": {"batches", "checkpoint", "config", "data", "errors", "events", "model", "optimization", "precision",
              "recorder", "resuming", "run_lock", "runs", "threads"},
    "resuming": {"config", "data", "errors", "vocab"},
    "optimization": {"config", "model"},
    "recorder": {"checkpoint", "errors", "evaluation", "events", "model", "run_lock", "sample"},
    "ui": {"ui.batch", "ui.cells", "ui.messages", "ui.sampling", "ui.script_stream", "ui.terminal", "ui.training"},
    "ui.batch": {"documents", "script", "ui.sampling"},
    "ui.cells": set(),
    "ui.messages": set(),
    "ui.sampling": {"documents", "script", "ui.cells", "ui.messages", "ui.script_stream", "ui.terminal"},
    "ui.script_stream": {"script", "ui.cells", "ui.script_styles", "ui.status_row"},
    "ui.script_styles": {"script"},
    "ui.status_row": {"ui.cells"},
    "ui.terminal": set(),
    "ui.run_lines": {"events", "ui.messages"},
    "ui.training": {"events", "ui.cells", "ui.messages", "ui.run_lines", "ui.terminal"},
    "vocab": {"errors"},
}

# Modules that must import without torch or numpy (what `charnn --help` loads).
LIGHT = ["config", "errors", "events", "script", "__init__"]
# What `charnn sample` runs where it needs no torch (charnn/checkpoint_arrays.py): importing these must not load it.
WITHOUT_TORCH = ["batch_rows", "checkpoint_arrays", "checkpoint_checks", "cpu_flags", "documents", "drawing",
                 "interactive", "mersenne", "paths", "recurrence", "runs", "sample", "script", "threads", "ui",
                 "vocab"]


def path(module: str) -> Path:
    folder = PACKAGE / module.replace(".", "/")
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def tree(module: str) -> ast.Module:
    return ast.parse(path(module).read_text(encoding="utf-8"), filename=str(path(module)))


def imports(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """Every imported module name under `node`, with `from charnn import x` resolved to charnn.x."""
    found = []
    for child in ast.walk(node):
        if isinstance(child, ast.Import):
            found += [(alias.name, child) for alias in child.names]
        elif isinstance(child, ast.ImportFrom):
            assert child.level == 0, "relative imports are not used in charnn"
            if child.module == "charnn" or child.module.startswith("charnn."):
                inside = child.module.removeprefix("charnn").removeprefix(".")
                for alias in child.names:  # `from charnn.ui import messages` imports the module charnn.ui.messages
                    name = f"{inside}.{alias.name}".lstrip(".")
                    found.append((f"charnn.{name}" if name in MODULES else child.module, child))
            else:
                found.append((child.module, child))
    return found


def imported(module: str) -> set[str]:
    return {name for name, _ in imports(tree(module))}


def top_level_imported(module: str) -> set[str]:
    """Imports that run when the module is imported (module body, not function bodies)."""
    names = set()
    for statement in tree(module).body:
        if isinstance(statement, ast.Import | ast.ImportFrom):
            names |= {name for name, _ in imports(statement)}
        elif isinstance(statement, ast.If | ast.Try | ast.With):
            names |= {name for name, _ in imports(statement)}
    return names


def roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def charnn_deps(module: str) -> set[str]:
    return {name.split(".", 1)[1] for name in imported(module) if name.startswith("charnn.")}


def test_every_module_is_in_the_table():
    assert set(MODULES) == set(DEPENDENCIES), "add new modules to DEPENDENCIES (and CORE if they are core)"


@pytest.mark.parametrize("module", MODULES)
def test_dependency_table(module):
    assert charnn_deps(module) == DEPENDENCIES[module]


def test_table_has_no_cycles():
    seen, done = set(), set()

    def visit(module, path):
        assert module not in seen or module in done, f"import cycle: {' → '.join(path + [module])}"
        if module in done:
            return
        seen.add(module)
        for dep in DEPENDENCIES[module]:
            visit(dep, path + [module])
        done.add(module)

    for module in DEPENDENCIES:
        visit(module, [])


@pytest.mark.parametrize("module", MODULES)
def test_only_ui_imports_rich(module):
    if not within(module, "ui"):
        assert "rich" not in roots(imported(module))


def test_ui_is_where_rich_is():
    assert {module for module in MODULES if "rich" in roots(imported(module))} == {
        "ui.cells", "ui.messages", "ui.sampling", "ui.script_stream", "ui.script_styles", "ui.status_row",
        "ui.training"}


@pytest.mark.parametrize("module", MODULES)
def test_only_cli_imports_typer(module):
    if not within(module, "cli"):
        assert "typer" not in roots(imported(module))
        assert "click" not in roots(imported(module))


@pytest.mark.parametrize("module", CORE)
def test_core_never_imports_ui_or_cli(module):
    names = imported(module)
    assert not roots(names) & {"rich", "typer", "click"}
    assert not {name for name in names if within(name, "charnn.ui") or within(name, "charnn.cli")
                or name == "charnn.__main__"}


@pytest.mark.parametrize("module", MODULES)
def test_only_main_imports_cli(module):
    if module != "__main__" and not within(module, "cli"):
        assert not {name for name in imported(module) if within(name, "charnn.cli")}


def print_calls(module: str) -> list[int]:
    return [node.lineno for node in ast.walk(tree(module))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]


@pytest.mark.parametrize("module", [m for m in MODULES if m != "cli.inspecting"])
def test_no_print(module):
    assert print_calls(module) == [], f"{path(module)} calls print(); report through events or ui instead"


def test_cli_prints_only_the_eval_json():
    """The cli's one print() is `eval --json` writing its JSON object to stdout; nothing else may print."""
    source = path("cli.inspecting").read_text(encoding="utf-8").splitlines()
    lines = print_calls("cli.inspecting")
    assert len(lines) <= 1
    for line in lines:
        assert "json.dumps" in source[line - 1]


@pytest.mark.parametrize("module", CORE)
def test_no_direct_writes_to_stdout_in_core(module):
    text = path(module).read_text(encoding="utf-8")
    assert "sys.stdout" not in text and "sys.stderr" not in text


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_do_not_import_heavy_libraries(module):
    assert not roots(imported(module)) & {"torch", "numpy", "rich", "typer"}


@pytest.mark.parametrize("module", [m for m in MODULES if within(m, "cli")])
def test_cli_top_level_imports_are_light(module):
    """`charnn --help` imports the cli's module bodies only: they must not pull in torch or the core."""
    names = top_level_imported(module)
    assert not roots(names) & {"torch", "numpy", "rich"}
    assert {n for n in names if n.startswith("charnn") and not within(n, "charnn.cli")} <= {"charnn.config",
                                                                                          "charnn.errors"}


PUBLIC_PROBE = """
import importlib, json, sys, types
import charnn
for module in sorted(set(charnn._PUBLIC.values())) + ["charnn.train", "charnn.checkpoint"]:
    importlib.import_module(module)  # what any program that trains or samples has done by then
print(json.dumps({name: (not isinstance(getattr(charnn, name), types.ModuleType)
                         and getattr(charnn, name) is getattr(sys.modules[module], name))
                  for name, module in charnn._PUBLIC.items()}))
"""


@pytest.fixture(scope="module")
def public_names_after_imports() -> dict:
    import json

    result = subprocess.run([sys.executable, "-c", PUBLIC_PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def public_name_params():
    import charnn

    for name in charnn._PUBLIC:
        yield pytest.param(name)


@pytest.mark.parametrize("name", list(public_name_params()))
def test_public_names(name, public_names_after_imports):
    import charnn

    module = charnn._PUBLIC[name]
    assert module.removeprefix("charnn.") in CORE, f"{name} must come from the core, not {module}"
    assert public_names_after_imports[name], f"charnn.{name} is not {module}.{name}"


def test_public_names_are_listed():
    """A new-user trial: `dir(charnn)` listed none of them, so a notebook's tab completion found nothing."""
    import charnn

    assert set(charnn._PUBLIC) <= set(dir(charnn)) and set(charnn.__all__) == set(charnn._PUBLIC)


def test_unknown_public_name():
    import charnn

    with pytest.raises(AttributeError):
        charnn.no_such_name  # noqa: B018


def test_sampling_without_torch_does_not_import_it():
    code = (f"import importlib, sys\nfor name in {WITHOUT_TORCH!r}:\n    importlib.import_module('charnn.' + name)\n"
            "print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_import_charnn_is_light():
    code = ("import sys, charnn, charnn.config, charnn.errors\n"
            "print(sorted({'torch', 'numpy', 'rich'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
