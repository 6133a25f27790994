"""The functions a crashing line calls and where they are defined: one step past the stack. Pure: source in, names out.

Python is read with `ast`; JavaScript/TypeScript with identifier patterns (good enough to name the function
a line calls and find a `function name`, `name = (...) =>` or `name(...) {` definition with its braces).
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

JS_SUFFIXES = (".js", ".ts", ".mjs", ".cjs", ".jsx", ".tsx")
# names that are never the project's own code, even when a project shadows one
PY_BUILTINS = frozenset(dir(builtins)) | frozenset(
    {"append", "extend", "get", "items", "keys", "values", "join", "split", "strip", "format", "update", "pop",
     "setdefault", "startswith", "endswith", "replace", "lower", "upper", "encode", "decode", "read", "write",
     "close", "copy", "add", "remove", "sort", "insert", "index", "count"})
JS_NOT_CALLS = frozenset(
    {"if", "for", "while", "switch", "catch", "return", "function", "typeof", "new", "await", "async", "super",
     "import", "require", "console", "log", "push", "map", "filter", "reduce", "forEach", "then", "catch", "JSON",
     "parse", "stringify", "Number", "String", "Boolean", "Array", "Object", "Promise", "Error", "setTimeout",
     "toString", "slice", "splice", "join", "split", "trim", "includes", "indexOf", "keys", "values", "entries"})


@dataclass(frozen=True)
class Call:
    name: str
    receiver: str | None  # "self", "cls", "this" or another expression's text; None for a plain name


@dataclass(frozen=True)
class Definition:
    name: str
    start: int
    end: int
    owner: str | None  # the class a method belongs to
    kind: str = "function"  # or "class"


def is_python(path: str) -> bool:
    return path.endswith(".py")


def is_js(path: str) -> bool:
    return path.endswith(JS_SUFFIXES)


# --------------------------------------------------------------------------- Python

def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        return None


def python_calls(source: str, line: int, first: int | None = None) -> list[Call]:
    """Calls whose expression spans `line` (or any line from `first` to `line`, nearest to `line` first),
    builtins and common container methods left out."""
    tree = _parse(source)
    if tree is None:
        return []
    found: list[tuple[int, int, Call]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        end = node.end_lineno or node.lineno
        if not (node.lineno <= line <= end if first is None else first <= node.lineno <= line):
            continue
        func = node.func
        if isinstance(func, ast.Name):
            call = Call(func.id, None)
        elif isinstance(func, ast.Attribute):
            receiver = ast.unparse(func.value) if hasattr(ast, "unparse") else None
            call = Call(func.attr, receiver)
        else:
            continue
        if call.name in PY_BUILTINS and call.receiver not in ("self", "cls"):
            continue
        found.append((node.lineno, node.col_offset, call))
    out: list[Call] = []
    for _, _, call in sorted(found, key=lambda f: (-f[0], f[1]) if first is not None else (f[0], f[1])):
        if call not in out:
            out.append(call)
    return out


def python_definitions(source: str) -> list[Definition]:
    """Every function, method and class with its line range (decorators included)."""
    tree = _parse(source)
    if tree is None:
        return []
    out: list[Definition] = []

    def visit(body, owner):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                out.append(Definition(node.name, start, node.end_lineno or node.lineno, owner))
                visit(node.body, owner)
            elif isinstance(node, ast.ClassDef):
                start = min([node.lineno] + [d.lineno for d in node.decorator_list])
                out.append(Definition(node.name, start, node.end_lineno or node.lineno, owner, "class"))
                visit(node.body, node.name)

    visit(tree.body, None)
    return out


def enclosing_class(definitions: list[Definition], line: int) -> str | None:
    inside = [d for d in definitions if d.start <= line <= d.end and d.owner and d.kind == "function"]
    return min(inside, key=lambda d: d.end - d.start).owner if inside else None


def enclosing_function(definitions: list[Definition], line: int) -> Definition | None:
    inside = [d for d in definitions if d.start <= line <= d.end and d.kind == "function"]
    return min(inside, key=lambda d: d.end - d.start) if inside else None


def module_names_read(source: str, function: Definition) -> list[tuple[str, int, int]]:
    """Module-level names (constants, settings) that `function` reads, with the lines assigning them."""
    tree = _parse(source)
    if tree is None:
        return []
    assigned: dict[str, tuple[int, int]] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        for target in targets:
            for name in ast.walk(target):
                if isinstance(name, ast.Name):
                    assigned[name.id] = (node.lineno, node.end_lineno or node.lineno)
    read: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in assigned
                and function.start <= node.lineno <= function.end):
            read.setdefault(node.id, assigned[node.id])
    return [(name, start, end) for name, (start, end) in read.items()]


def python_imports(source: str, module_path: str) -> dict[str, str]:
    """Name → the module path (`pkg/mod`) it is imported from, for `from X import name` (relative ones too)."""
    tree = _parse(source)
    if tree is None:
        return {}
    package = module_path.rsplit("/", 1)[0].split("/") if "/" in module_path else []
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                parts = base + (node.module.split(".") if node.module else [])
            else:
                parts = (node.module or "").split(".")
            for alias in node.names:
                out[alias.asname or alias.name] = "/".join(p for p in parts if p)
    return out


# --------------------------------------------------------------------------- JavaScript / TypeScript

_JS_CALL = re.compile(r"(?:(\b[A-Za-z_$][\w$]*)\s*\.\s*)?\b([A-Za-z_$][\w$]*)\s*\(")
_JS_DEF = (
    r"(?:^|[^\w$.])function\s*\*?\s*{name}\s*\(",
    r"(?:^|[^\w$.])(?:const|let|var)\s+{name}\s*=\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>|[\w$]+\s*=>)",
    r"^\s*(?:(?:public|private|protected|static|async|get|set)\s+)*{name}\s*\([^)]*\)\s*(?::\s*[^={{]+)?\{{",
    r"(?:^|[^\w$.]){name}\s*:\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>)",
)


def js_calls(line_text: str) -> list[Call]:
    out: list[Call] = []
    for match in _JS_CALL.finditer(line_text or ""):
        receiver, name = match.group(1), match.group(2)
        if name in JS_NOT_CALLS or receiver == "console":
            continue
        call = Call(name, receiver)
        if call not in out:
            out.append(call)
    return out


def js_definitions(source: str, names: set[str]) -> list[Definition]:
    """Definitions of `names`, each from its line to the brace that closes it (strings and comments not parsed)."""
    lines = source.splitlines()
    out: list[Definition] = []
    for name in names:
        patterns = [re.compile(p.format(name=re.escape(name))) for p in _JS_DEF]
        for number, text in enumerate(lines, 1):
            if any(p.search(text) for p in patterns):
                out.append(Definition(name, number, _closing_line(lines, number), None))
    return out


def _closing_line(lines: list[str], start: int) -> int:
    depth, opened = 0, False
    for number in range(start, min(len(lines), start + 400) + 1):
        for ch in lines[number - 1]:
            if ch == "{":
                depth, opened = depth + 1, True
            elif ch == "}":
                depth -= 1
                if opened and depth <= 0:
                    return number
        if not opened and number > start and lines[number - 1].rstrip().endswith(";"):
            return number  # a one-statement arrow function
    return start


def js_imports(source: str, module_path: str) -> dict[str, str]:
    """Name → the relative module path it comes from (`import {a} from './x'`), extension left off."""
    base = module_path.rsplit("/", 1)[0] if "/" in module_path else ""
    out: dict[str, str] = {}
    for match in re.finditer(r"import\s+(?:(\w+)\s*,?\s*)?(?:\{([^}]*)\})?\s*from\s*['\"](\.[^'\"]+)['\"]", source):
        default, named, target = match.groups()
        parts = [p for p in base.split("/") if p]
        for piece in target.split("/"):
            if piece == "..":
                parts = parts[:-1]
            elif piece not in (".", ""):
                parts.append(piece)
        path = "/".join(parts)
        for name in ([default] if default else []) + [n.split(" as ")[-1].strip() for n in (named or "").split(",")]:
            if name:
                out[name] = path
    return out


# --------------------------------------------------------------------------- both

def calls_on_line(path: str, source: str, line: int, first: int | None = None) -> list[Call]:
    """The calls on `line`; with `first`, those on every line from `first` down to `line` (nearest first)."""
    if is_python(path):
        return python_calls(source, line, first)
    if is_js(path):
        lines = source.splitlines()
        out: list[Call] = []
        for number in range(line, (first or line) - 1, -1):
            out += [c for c in (js_calls(lines[number - 1]) if 0 < number <= len(lines) else []) if c not in out]
        return out
    return []


def definitions(path: str, source: str, names: set[str]) -> list[Definition]:
    if is_python(path):
        return [d for d in python_definitions(source) if d.name in names]
    if is_js(path):
        return js_definitions(source, names)
    return []


def imports(path: str, source: str) -> dict[str, str]:
    if is_python(path):
        return python_imports(source, path)
    if is_js(path):
        return js_imports(source, path)
    return {}


_SPACE = re.compile(r"\s+")
_TRAILING_COMMA = re.compile(r",(?=[)\]}])")


def same_code(path: str, old: str, new: str) -> bool:
    """True when two versions of a file differ only in layout: whitespace, quotes, wrapping, trailing commas."""
    if is_python(path):
        a, b = _parse(old), _parse(new)
        if a is not None and b is not None:
            return ast.dump(a) == ast.dump(b)

    def norm(text: str) -> str:
        text = _SPACE.sub("", text).replace("'", '"').replace(";", "")
        return _TRAILING_COMMA.sub("", text)

    return norm(old) == norm(new)
