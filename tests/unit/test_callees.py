"""What a crashing line calls, where functions are defined, and which changes are layout only (pure)."""

from __future__ import annotations

import pytest

from tasks import callees
from tasks.callees import Call

MODULE = '''from .pricing import paid_count
RATE = 1.2


class Cart:
    def total(self, items):
        return sum(i for i in items) / self.count(items) + paid_count(
            items) * RATE

    def count(self, items):
        return len(items)
'''


@pytest.mark.parametrize("line, expected", [
    (7, [Call("count", "self"), Call("paid_count", None)]),  # sum() is a builtin: left out
    (8, [Call("paid_count", None)]),  # the call spans lines 7-8
    (11, []),
])
def test_python_calls_on_a_line(line, expected):
    assert callees.python_calls(MODULE, line) == expected


def test_python_definitions_imports_and_module_values_read():
    defs = {d.name: d for d in callees.python_definitions(MODULE)}
    assert (defs["total"].start, defs["total"].end, defs["total"].owner) == (6, 8, "Cart")
    assert defs["Cart"].kind == "class"
    assert callees.enclosing_class(list(defs.values()), 7) == "Cart"
    assert callees.python_imports(MODULE, "app/services/cart.py") == {"paid_count": "app/services/pricing"}
    assert callees.module_names_read(MODULE, defs["total"]) == [("RATE", 2, 2)]


@pytest.mark.parametrize("line, expected", [
    ("const t = totalPrice(items) / api.countPaid(items);", [Call("totalPrice", None), Call("countPaid", "api")]),
    ("if (items.length) { console.log(x); }", []),
])
def test_javascript_calls_on_a_line(line, expected):
    assert callees.js_calls(line) == expected


def test_javascript_definitions_and_imports():
    source = "export function total(a) {\n  return a;\n}\nconst countPaid = (x) => {\n  return 1;\n};\n"
    found = {d.name: (d.start, d.end) for d in callees.js_definitions(source, {"total", "countPaid"})}
    assert found == {"total": (1, 3), "countPaid": (4, 6)}
    assert callees.js_imports("import { total, b as c } from '../lib/price'", "web/src/pages/x.ts") == {
        "total": "web/src/lib/price", "c": "web/src/lib/price"}


@pytest.mark.parametrize("path, old, new, same", [
    ("a.py", "x = f(1, 2)\n", "x = f(\n    1,\n    2,\n)\n", True),  # wrapped
    ("a.py", "x = {'a': 1}\n", 'x = {"a": 1}\n', True),  # quotes
    ("a.py", "x = 1\n", "x = 2\n", False),
    ("a.js", "const a = f('x', 1);\n", 'const a = f(\n  "x",\n  1,\n)\n', True),
    ("a.js", "const a = 1;\n", "const a = 2;\n", False),
])
def test_layout_only_changes(path, old, new, same):
    assert callees.same_code(path, old, new) is same
