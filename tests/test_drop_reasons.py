"""Drop reasons are declared once (`curate.schema.DROP_REASONS`): every reason the code writes or compares
`drop_reason` with is declared, every declared reason is used, and docs/workspace.md shows the table."""

import ast
import re
from pathlib import Path

from curate import schema

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted(path for path in [*(ROOT / "curate").rglob("*.py"), *(ROOT / "classify").rglob("*.py")]
                 if path != ROOT / "curate" / "schema.py")  # schema.py declares them
# Exceptions whose first argument is the drop reason of the photo they fail
REASON_ERRORS = {"FetchError", "HTTPFetchError", "BadImage"}
# Module constants holding a reason (`DROP_REASON = "reviewed"`, `LOCAL_ERROR = "ingest_error"`)
REASON_CONSTANT = re.compile(r"^(DROP_[A-Z_]+|LOCAL_ERROR|[A-Z_]+_REASONS)$")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*(:[a-z_]+)?$")
SQL_REASON = re.compile(r"drop_reason\s*(?:=|!=|<>)\s*'([^']+)'", re.IGNORECASE)
SQL_LIST = re.compile(r"drop_reason\s+(?:NOT\s+)?IN\s*\(([^)]*)\)", re.IGNORECASE)
SQL_CASE = re.compile(r"drop_reason\s*=\s*CASE\b(.*?)\bEND\b", re.IGNORECASE | re.DOTALL)
QUOTED = re.compile(r"'([^']+)'")


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _strings(node: ast.AST | None) -> list[str]:
    """The identifier-like strings `node` evaluates to: a constant, the items of a list or tuple, either branch
    of `a if c else b`, the arguments of a call (`np.where(c, "x", None)`, `pd.Series(...)`), but not the strings
    a condition compares with."""
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and IDENTIFIER.match(node.value) else []
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    if isinstance(node, ast.IfExp):
        return _strings(node.body) + _strings(node.orelse)
    if isinstance(node, ast.Call):
        return [s for arg in node.args for s in _strings(arg)]
    return []


def _mentions_drop_reason(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Constant) and n.value == "drop_reason" for n in ast.walk(node)) or any(
        isinstance(n, ast.Attribute) and n.attr == "drop_reason" for n in ast.walk(node))


def reasons_in(tree: ast.AST, path: Path) -> set[tuple[str, str]]:
    """(reason, where) for every drop reason the module writes or compares `drop_reason` with."""
    found: set[tuple[str, str]] = set()

    def add(values, node):
        found.update((value, f"{path.relative_to(ROOT)}:{node.lineno}") for value in values)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in REASON_ERRORS and node.args:
                add(_strings(node.args[0]), node)
            elif name == "apply_drops" and len(node.args) > 1:
                add(_strings(node.args[1]), node)
            elif name == "drop_kept" and len(node.args) > 2:
                add(_strings(node.args[2]), node)
            elif name in ("isin", "where", "mask", "replace") and isinstance(node.func, ast.Attribute) \
                    and _mentions_drop_reason(node.func.value):
                add([s for arg in node.args for s in _strings(arg)], node)
            for keyword in node.keywords:  # .assign(drop_reason=...), dict(drop_reason=...), update(...)
                if keyword.arg == "drop_reason":
                    add(_strings(keyword.value), node)
        elif isinstance(node, ast.Compare) and _mentions_drop_reason(node.left):
            add([s for comparator in node.comparators for s in _strings(comparator)], node)
        elif isinstance(node, ast.Compare) and any(_mentions_drop_reason(c) for c in node.comparators):
            add(_strings(node.left), node)  # "x" == frame["drop_reason"]
        elif isinstance(node, ast.Assign):
            target = node.targets[0]
            if isinstance(target, ast.Name) and REASON_CONSTANT.match(target.id):
                add(_strings(node.value), node)
            elif isinstance(target, ast.Name) and target.id == "reason" and "ingest" in path.parts:
                add(_strings(node.value), node)
            elif isinstance(target, ast.Subscript) and isinstance(node.value, (ast.List, ast.Tuple)):
                columns = [n.value for n in ast.walk(target.slice) if isinstance(n, ast.Constant)]
                if "drop_reason" in columns and len(columns) == len(node.value.elts):
                    add(_strings(node.value.elts[columns.index("drop_reason")]), node)
            elif isinstance(target, ast.Subscript) and _mentions_drop_reason(target.slice):
                add(_strings(node.value), node)  # frame.loc[rows, "drop_reason"] = "x", = np.where(c, "x", None)
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "drop_reason":
                    add(_strings(value), node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            add(SQL_REASON.findall(node.value), node)
            for listed in [*SQL_LIST.findall(node.value), *SQL_CASE.findall(node.value)]:
                add(QUOTED.findall(listed), node)
    return found


def used_reasons() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for path in SOURCES:
        found |= reasons_in(ast.parse(path.read_text(encoding="utf-8")), path)
    return found


def test_every_reason_the_code_writes_or_reads_is_declared():
    used = used_reasons()
    # the scan sees each way a reason is written: an exception, a stage's drops, a constant, SQL, a source's record
    assert {"http_404", "timeout", "too_small", "unsafe_path", "missing_file", "duplicate_photo_id", "reviewed",
            "ingest_error", "no_image_url", "unsupported_mime", "exact_duplicate", "geo_outlier", "off_topic",
            "owner_cap"} <= {reason for reason, _ in used}
    undeclared = sorted(f"{reason} ({where})" for reason, where in used if not schema.is_drop_reason(reason))
    assert not undeclared, f"drop reasons not declared in curate.schema.DROP_REASONS: {undeclared}"


def test_the_scan_catches_a_misspelt_reason():
    code = ('import numpy as np\nout = apply_drops(out, np.where(x, "geo_outlire", None), STAGE)\n'
            'mask = frame["drop_reason"] == "of_topic"\n'
            'con.execute("SELECT 1 FROM w WHERE drop_reason = \'ownr_cap\'")\n'
            'raise FetchError("http_999", "x")\n'
            # review AY: the forms the first scan missed
            'frame.loc[rows, "drop_reason"] = "lisence"\n'
            'frame["drop_reason"] = np.where(bad, "near_dupe", None)\n'
            'rows = rows.assign(drop_reason="exact_dupe")\n'
            'mask = "ambiguous_lbl" == frame["drop_reason"]\n'
            'con.execute("UPDATE w SET x = 1 WHERE drop_reason IN (\'geo_outlier\', \'missing_gio\')")\n'
            'con.execute("UPDATE w SET drop_reason = CASE WHEN a THEN \'label_isue\' END")\n')
    found = {reason for reason, _ in reasons_in(ast.parse(code), ROOT / "curate" / "ingest" / "x.py")}
    misspelt = {"geo_outlire", "of_topic", "ownr_cap", "http_999", "lisence", "near_dupe", "exact_dupe",
                "ambiguous_lbl", "missing_gio", "label_isue"}
    assert misspelt <= found, misspelt - found
    assert not any(schema.is_drop_reason(reason) for reason in misspelt)


def test_every_declared_reason_is_used_somewhere():
    text = "\n".join(path.read_text(encoding="utf-8") for path in SOURCES)
    unused = [reason.name for reason in schema.DROP_REASONS
              if f'"{reason.name}' not in text and f"'{reason.name}" not in text]
    assert not unused, f"declared drop reasons no code writes: {unused}"


def test_reasons_are_unique_and_their_stages_drop():
    names = [reason.name for reason in schema.DROP_REASONS]
    assert len(names) == len(set(names))
    assert {reason.stage for reason in schema.DROP_REASONS} <= {"ingest", "filter", "prefilter", "review", "compare"}


def test_workspace_docs_show_the_declared_reasons():
    docs = (ROOT / "docs" / "workspace.md").read_text(encoding="utf-8")
    assert schema.drop_reasons_table() in docs, ("docs/workspace.md drop-reason table is out of date: paste "
                                                 "schema.drop_reasons_table()")
