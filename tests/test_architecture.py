"""Dependencies run one way: CLI → pipeline → stages → core, and classify on top of curate.

Read from the source with `ast` (every import statement, at module level or inside a function):
no curate library module imports classify; no library module imports the command-line layer
(curate.cli, classify.cli, classify.commands, curate.console, typer, click, rich) or prints.
Library code logs through `logging` and reports progress through curate.progress; the command
line shows both (docs/architecture.md).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_LAYER = ("curate/cli/", "classify/commands/", "classify/cli.py", "curate/console.py")
CLI_MODULES = ("curate.cli", "classify.cli", "classify.commands", "curate.console", "typer", "click", "rich")
OUTPUT_NAMES = {("sys", "stdout"), ("sys", "stderr"), ("contextlib", "redirect_stdout"),
                ("contextlib", "redirect_stderr")}


def python_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def library_files(package: str) -> list[Path]:
    return [path for path in python_files(package) if not relative(path).startswith(CLI_LAYER)]


def imported_modules(tree: ast.AST, module_level_only: bool = False) -> set[str]:
    """Every module an `import` or `from ... import` names (relative imports resolved to their text)."""
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    if module_level_only:  # statements at module level, also under if/try blocks, not inside def/class
        nodes = [node for statement in tree.body for node in ast.walk(statement)
                 if not isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def output_calls(tree: ast.AST) -> list[str]:
    """`print(...)` calls and sys.stdout / sys.stderr / redirect_stdout uses, as text."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
            found.append(f"print() at line {node.lineno}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and (node.value.id, node.attr) in OUTPUT_NAMES:
            found.append(f"{node.value.id}.{node.attr} at line {node.lineno}")
    return found


def names(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in prefixes))


def parse(path: Path) -> ast.AST:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


# ---------------------------------------------------------------- the checks check what they say
def test_the_checks_see_imports_at_any_depth_and_printing():
    tree = ast.parse("import os\nif True:\n    from classify import steps\n"
                     "def f():\n    import typer\n    print('x')\n    return sys.stderr\n")
    assert names(imported_modules(tree), ("classify", "typer")) == ["classify", "classify.steps", "typer"]
    assert names(imported_modules(tree, module_level_only=True), ("classify", "typer")) == \
        ["classify", "classify.steps"]
    assert output_calls(tree) == ["print() at line 6", "sys.stderr at line 7"]


# ---------------------------------------------------------------- the import graph
@pytest.mark.parametrize("path", library_files("curate"), ids=relative)
def test_no_curate_library_module_imports_classify(path):
    assert names(imported_modules(parse(path)), ("classify",)) == [], \
        f"{relative(path)} imports classify: register what it needs (curate.pipeline.training) instead"


@pytest.mark.parametrize("path", python_files("curate"), ids=relative)
def test_only_the_curate_command_line_imports_classify_at_module_level(path):
    found = names(imported_modules(parse(path), module_level_only=True), ("classify",))
    assert found == [] or relative(path).startswith("curate/cli/"), f"{relative(path)} imports {found}"


@pytest.mark.parametrize("path", library_files("curate") + library_files("classify"), ids=relative)
def test_no_library_module_imports_the_command_line_or_prints(path):
    tree = parse(path)
    assert names(imported_modules(tree), CLI_MODULES) == [], f"{relative(path)} imports the command-line layer"
    assert output_calls(tree) == [], f"{relative(path)} writes to the console: log or report progress instead"


def test_the_command_line_layer_exists_where_the_checks_look():
    """The exemptions above name real files, so a rename cannot silently widen them."""
    for prefix in CLI_LAYER:
        assert (ROOT / prefix).exists(), prefix
    assert len(library_files("curate")) > 50 and len(library_files("classify")) > 10


# ---------------------------------------------------------------- what importing really loads
def run_python(code: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    return result


def test_the_pipeline_and_the_stages_load_without_classify_typer_or_rich():
    run_python("import sys\n"
               "import curate.pipeline, curate.embed, curate.filters.run, curate.prefilter.run, curate.split\n"
               "import curate.ingest.engine, curate.ingest.flickr, curate.ingest.commons\n"
               "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'classify', 'typer', 'click', 'rich'})\n"
               "assert not loaded, loaded\n")


def test_the_classify_library_loads_without_the_command_line():
    run_python("import sys\n"
               "import classify.train, classify.evaluate_run, classify.predict, classify.serve, classify.tune_run\n"
               "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('typer', 'click')\n"
               "                or m.startswith(('curate.cli', 'classify.cli', 'classify.commands', "
               "'curate.console')))\n"
               "assert not loaded, loaded\n")


def test_training_steps_come_from_classify_registering_them():
    """Without classify the pipeline plans curation and says what `--train` needs; importing
    classify registers its steps (curate.pipeline.training)."""
    run_python("from curate import pipeline\n"
               "from curate.errors import UsageError\n"
               "from curate.recipes import load_recipe\n"
               "demo = load_recipe('demo')\n"
               "assert 'train' not in [step.name for step in pipeline.plan(demo)]\n"
               "try:\n"
               "    pipeline.plan(demo, train=True)\n"
               "    raise SystemExit('planned training without classify')\n"
               "except UsageError as exc:\n"
               "    assert 'classify' in str(exc), exc\n"
               "import classify\n"
               "names = [step.name for step in pipeline.plan(demo, train=True)]\n"
               "assert names[-3:] == ['train', 'evaluate', 'report'], names\n")


# ---------------------------------------------------------------- the command line shows what the library reports
def test_library_reports_are_silent_until_the_command_line_shows_them():
    code = ("import logging\n"
            "from curate.progress import progress_bar\n"
            "def work():\n"
            "    with progress_bar('work', 20) as advance:\n"
            "        for _ in range(20): advance()\n"
            "    logging.getLogger('curate.embed').warning('warning: 2 images could not be decoded')\n"
            "    logging.getLogger('classify.train').info('epoch 1: val loss 0.5')\n"
            "work()\n"
            "print('--- shown ---', flush=True)\n"
            "import sys; sys.stderr.write('--- shown ---\\n'); sys.stderr.flush()\n"
            "import curate.cli.common  # the command line installs its display\n"
            "work()\n")
    result = run_python(code)
    quiet_err, shown_err = result.stderr.split("--- shown ---\n")
    quiet_out, shown_out = result.stdout.split("--- shown ---\n")
    assert "work:" not in quiet_err and "epoch" not in quiet_out
    progress = [line for line in shown_err.splitlines() if line.startswith("work:")]
    assert len(progress) == 10 and progress[-1].startswith("work: 20/20")  # off a TTY: steady plain lines
    assert "warning: 2 images could not be decoded" in shown_err and "epoch 1: val loss 0.5" in shown_out


def test_info_lines_move_to_stderr_while_a_command_keeps_stdout_for_json():
    result = run_python("import logging\n"
                        "from curate.console import info_to_stderr, install_console_output\n"
                        "install_console_output()\n"
                        "with info_to_stderr():\n"
                        "    logging.getLogger('classify.train').info('epoch 1')\n"
                        "logging.getLogger('classify.train').info('epoch 2')\n")
    assert "epoch 1" in result.stderr and "epoch 1" not in result.stdout
    assert "epoch 2" in result.stdout
