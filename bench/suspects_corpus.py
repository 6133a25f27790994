"""Labelled bugs for the suspects evaluation: generated repositories that need nothing outside this one.

Each case is a small Python project with a year of history: the commit that introduced a bug, decoy commits
(other functions of the same files, tests, other modules, before and after the bug), and, per category, what
makes suspects hard: the exception raised in project code; the innermost frame a test or a caller of the
broken function; a reformat, re-indent or move of the broken lines after the breaking change; an introducing
commit older than the 30-day window. The failing test is added uncommitted, as a bug fix's test would be on
the buggy checkout, and run for real: the stack trace is the one Python prints.
"""

from __future__ import annotations

import os
import random
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.suspects_trace import run_failing_test

PROJECT, CALLER, REFORMAT, OLD = ("exception in project code", "innermost frame is a test or caller",
                                  "reformat after the breaking change", "old commit beyond the 30-day window")
CATEGORIES = (PROJECT, CALLER, REFORMAT, OLD)
AUTHORS = [("Anna Petrova", "anna@shop.example"), ("Ivan Sokolov", "ivan@shop.example"),
           ("Maria Ivanova", "maria@shop.example"), ("Oleg Kim", "oleg@shop.example")]


@dataclass
class Case:
    name: str
    category: str
    repo: Path
    frames: list[tuple[str, int]]  # in-app frames, innermost first
    first_seen: datetime
    introducing: set[str]
    release: str | None = None
    exception: str = ""
    all_frames: list[tuple[str, int, str]] = field(default_factory=list)
    synthetic: bool = False  # the trace was built from the fix, not from running the failing case


# --------------------------------------------------------------------------- the bugs

@dataclass(frozen=True)
class Bug:
    module: str  # where the broken function lives
    good: str
    bad: str
    test: str  # the failing test (uses {module} names imported in the test header)
    names: tuple[str, ...]  # what the test imports from the module
    header: str = ""  # module-level lines of the broken module
    caller: tuple[str, str, str] | None = None  # (module, header, function text) of an unchanged caller
    caller_names: tuple[str, ...] = ()


PROJECT_BUGS = [
    Bug("app/pricing.py",
        "def average_price(items):\n    prices = [item['price'] for item in items]\n    return sum(prices) / max(len(prices), 1)\n",
        "def average_price(items):\n    paid = [item['price'] for item in items if item.get('paid')]\n    return sum(paid) / len(paid)\n",
        "def test_average_price_of_unpaid_items():\n    assert average_price([{'price': 4}]) == 4\n", ("average_price",)),
    Bug("app/currency.py",
        "def convert(amount, currency):\n    rate = RATES.get(currency.upper(), 1.0)\n    return amount * rate\n",
        "def convert(amount, currency):\n    rate = RATES[currency.lower()]\n    return amount * rate\n",
        "def test_convert_lower_case_code():\n    assert convert(10, 'usd') == 11.0\n", ("convert",),
        header="RATES = {'EUR': 1.0, 'USD': 1.1}\n"),
    Bug("app/users.py",
        "def display_name(user):\n    name = user.get('name') or ''\n    return name.strip().title()\n",
        "def display_name(user):\n    return user.get('nickname').strip().title()\n",
        "def test_display_name_without_nickname():\n    assert display_name({'name': 'ann'}) == 'Ann'\n", ("display_name",)),
    Bug("app/tags.py",
        "def tag_list(tags):\n    return ', '.join(str(tag) for tag in tags)\n",
        "def tag_list(tags):\n    return ', '.join(tags)\n",
        "def test_numeric_tags():\n    assert tag_list([1, 2]) == '1, 2'\n", ("tag_list",)),
    Bug("app/text.py",
        "def first_word(text):\n    words = text.split()\n    return words[0] if words else ''\n",
        "def first_word(text):\n    words = text.strip().split(' ')[1:]\n    return words[0]\n",
        "def test_first_word_of_one_word():\n    assert first_word('hello') == 'hello'\n", ("first_word",)),
]

CALLER_BUGS = [
    Bug("app/codes.py", "def normalize_code(code):\n    return code.strip().upper()\n",
        "def normalize_code(code):\n    return code.strip().lower()\n",
        "def test_convert_amount_with_spaces():\n    assert convert_amount(10, ' usd ') == 11.0\n", (),
        caller=("app/convert.py", "from app.codes import normalize_code\n\nRATES = {'EUR': 1.0, 'USD': 1.1}\n",
                "def convert_amount(amount, code):\n    return amount * RATES[normalize_code(code)]\n"),
        caller_names=("convert_amount",)),
    Bug("app/discount.py",
        "def discount(price, tier):\n    rate = {'gold': 0.1, 'silver': 0.05}.get(tier, 0)\n    return round(price * (1 - rate), 2)\n",
        "def discount(price, tier):\n    rate = {'gold': 0.1, 'silver': 0.05}.get(tier, 0)\n    return round(price * rate, 2)\n",
        "def test_gold_discount():\n    assert discount(100, 'gold') == 90.0\n", ("discount",)),
    Bug("app/cart.py",
        "class Cart:\n    def __init__(self, items):\n        self.items = items\n\n    def subtotal(self):\n"
        "        return sum(item['price'] for item in self.items)\n\n    def total(self, tax):\n"
        "        return round(self.subtotal() * (1 + tax), 2)\n",
        "class Cart:\n    def __init__(self, items):\n        self.items = items\n\n    def subtotal(self):\n"
        "        if not self.items:\n            return None\n        return sum(item['price'] for item in self.items)\n\n"
        "    def total(self, tax):\n        return round(self.subtotal() * (1 + tax), 2)\n",
        "def test_empty_cart_total():\n    assert Cart([]).total(0.2) == 0\n", ("Cart",)),
    Bug("app/slug.py", "def slugify(title):\n    return '-'.join(title.lower().split())\n",
        "def slugify(title):\n    return '-'.join(title.split())\n",
        "def test_slug_is_lower_case():\n    assert slugify('Hello World') == 'hello-world'\n", ("slugify",)),
]


def _filler(module: str, n: int, k: int) -> str:
    stem = module.rsplit("/", 1)[-1].removesuffix(".py")
    return f"def {stem}_rule_{n}(value):\n    value = value * {k}\n    return value + {n}\n"


# --------------------------------------------------------------------------- a repository with dates

class History:
    """A git repository written commit by commit with chosen dates and authors."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, HOME=str(root))
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env: dict[str, str] | None = None) -> str:
        return subprocess.run(["git", *args], cwd=self.root, env=env or self.env, capture_output=True, text=True,
                              check=True).stdout

    def write(self, path: str, text: str | None) -> None:
        target = self.root / path
        if text is None:
            target.unlink()
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    def commit(self, when: datetime, author: tuple[str, str], message: str, changes: dict[str, str | None]) -> str:
        for path, text in changes.items():
            self.write(path, text)
        stamp = when.replace(microsecond=0).isoformat()
        env = dict(self.env, GIT_AUTHOR_NAME=author[0], GIT_AUTHOR_EMAIL=author[1], GIT_COMMITTER_NAME=author[0],
                   GIT_COMMITTER_EMAIL=author[1], GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        self.git("add", "-A", env=env)
        self.git("commit", "-q", "--allow-empty", "-m", message, env=env)
        return self.git("rev-parse", "HEAD").strip()


class Module:
    """A Python module as its header and its functions, in order."""

    def __init__(self, header: str, functions: dict[str, str]):
        self.header, self.functions = header, dict(functions)

    def text(self, indent: int = 4, quotes: str = "'") -> str:
        body = self.header + ("\n\n" if self.header else "") + "\n\n".join(self.functions.values())
        if indent != 4:
            body = "\n".join(_reindent(line, indent) for line in body.splitlines()) + "\n"
        return body.replace("'", quotes) if quotes != "'" else body


def _reindent(line: str, indent: int) -> str:
    stripped = line.lstrip(" ")
    return " " * ((len(line) - len(stripped)) // 4 * indent) + stripped


# --------------------------------------------------------------------------- building one case

def build_case(root: Path, name: str, category: str, bug: Bug, rng: random.Random, now: datetime,
               variant: str = "") -> Case | None:
    h = History(root / name)
    first_seen = now - timedelta(hours=rng.randint(6, 30))
    start = now - timedelta(days=400)
    authors = list(AUTHORS)
    rng.shuffle(authors)
    indent = 2 if variant == "reindent" else 4  # written two-space, re-indented to four later
    quotes = "'"
    target = Module(bug.header, {"target": bug.good})
    for n in range(3):
        target.functions[f"f{n}"] = _filler(bug.module, n, rng.randint(2, 9))
    others = {f"app/{stem}.py": Module("", {f"f{n}": _filler(f'app/{stem}.py', n, rng.randint(2, 9)) for n in range(3)})
              for stem in ("config", "storage", "reports")}
    caller = Module(bug.caller[1], {"caller": bug.caller[2]}) if bug.caller else None
    test_path = "tests/test_" + (bug.caller[0] if bug.caller else bug.module).rsplit("/", 1)[-1]
    test_header = ("from " + (bug.caller[0] if bug.caller else bug.module).removesuffix(".py").replace("/", ".")
                   + " import " + ", ".join(bug.caller_names or bug.names) + "\n")
    tests = Module(test_header, {"t0": "def test_smoke():\n    assert True\n"})

    def files() -> dict[str, str]:
        out = {bug.module: target.text(indent, quotes), "app/__init__.py": "", "tests/__init__.py": "",
               test_path: tests.text()}
        out.update({p: m.text() for p, m in others.items()})
        if caller:
            out[bug.caller[0]] = caller.text(indent, quotes)
        return out

    h.commit(start, authors[0], "Initial shop service", files())

    def decoy(when: datetime, where: str) -> None:
        if where == "target":
            key = rng.choice([k for k in target.functions if k.startswith("f")])
            target.functions[key] = _filler(bug.module, int(key[1:]), rng.randint(10, 99))
            message = f"Tune {bug.module.rsplit('/', 1)[-1].removesuffix('.py')} rule {key[1:]}"
        elif where == "caller" and caller:
            caller.functions[f"c{len(caller.functions)}"] = _filler(bug.caller[0], len(caller.functions) + 5, rng.randint(2, 9))
            message = "Add a rounding rule next to the conversion"
        elif where == "tests":
            tests.functions[f"t{len(tests.functions)}"] = f"def test_case_{len(tests.functions)}():\n    assert {rng.randint(1, 9)} > 0\n"
            message = "More tests"
        else:
            path = rng.choice(list(others))
            key = rng.choice(list(others[path].functions))
            others[path].functions[key] = _filler(path, int(key[1:]), rng.randint(10, 99))
            message = f"Adjust {path.rsplit('/', 1)[-1].removesuffix('.py')} rule {key[1:]}"
        h.commit(when, rng.choice(authors), message, files())

    old = category == OLD
    bug_when = first_seen - (timedelta(days=rng.randint(45, 300)) if old else timedelta(days=rng.uniform(2, 20)))
    # history before the bug: decoys all over, some on the very files the stack will show
    for when in sorted(start + timedelta(days=rng.uniform(1, (bug_when - start).days - 1)) for _ in range(6)):
        decoy(when, rng.choice(["target", "tests", "others", "caller"]))
    release, tagged = None, rng.random() < 0.5
    if tagged and not old:
        h.git("tag", "v1.0")  # the last good release: the bug shipped in the next one
    target.functions["target"] = bug.bad
    introducing = {h.commit(bug_when, rng.choice(authors), _bug_subject(bug), files())}
    if tagged and old:
        h.git("tag", "v1.0")  # an old bug shipped long ago: the last release changed other things
    after = sorted(bug_when + timedelta(hours=rng.uniform(1, (first_seen - bug_when).total_seconds() / 3600 - 1))
                   for _ in range(4 if not old else 3))
    if old:  # and the last month busy on the same files
        after = [first_seen - timedelta(days=rng.uniform(1, 25)) for _ in range(4)]
        after.sort()
    quiet = category != REFORMAT and rng.random() < 0.35  # about a third: nothing touched the stack's files since
    for when in after[:-1]:
        decoy(when, "others" if quiet else rng.choice(["target", "target", "tests", "caller", "others"]))
    if category == REFORMAT:
        _reformat(h, variant, target, bug, files, after[-1] - timedelta(minutes=30), authors[1])
        indent, quotes = 4, ('"' if variant in ("quotes", "ignore-revs") else "'")
    decoy(after[-1], "others" if quiet else rng.choice(["target", "tests", "others"] if category != CALLER
                                                      else ["caller", "tests", "others"]))
    if "v1.0" in h.git("tag", "--list"):
        h.git("tag", "v1.1")
        release = "shop@1.1"
    decoy(first_seen + timedelta(hours=2), "target")  # after the error appeared: in the checkout, not a suspect
    # the fix's test, applied on the buggy checkout as the fix would add it (uncommitted)
    tests.functions["failing"] = bug.test.replace("'", quotes) if quotes != "'" else bug.test
    h.write(test_path, tests.text())
    trace = run_failing_test(h.root, test_path)
    if trace is None:
        return None
    frames = [(p, line) for (p, line, _), inside in zip(trace.frames, trace.in_app) if inside]
    return Case(name, category, h.root, frames, first_seen, introducing, release, trace.exception, trace.frames)


def _bug_subject(bug: Bug) -> str:
    name = bug.bad.split("(", 1)[0].split()[-1]
    return {"average_price": "Average over paid items only", "convert": "Look rates up by lower-case code",
            "display_name": "Prefer the nickname in display names", "tag_list": "Simplify tag joining",
            "first_word": "Skip the greeting word", "normalize_code": "Normalize codes to lower case",
            "discount": "Compute discounts from the tier rate", "Cart": "An empty cart has no subtotal",
            "slugify": "Keep the title's case in slugs"}.get(name, f"Change {name}")


def _reformat(h: History, variant: str, target: Module, bug: Bug, files, when: datetime, author) -> None:
    """A layout-only commit over the broken lines: re-indent, quote style (with or without an ignore list), or a move."""
    if variant == "move":
        moved = bug.module.replace(".py", "_rules.py")
        new_module = Module(bug.header, {"target": target.functions.pop("target")})
        stem = moved.removesuffix(".py").replace("/", ".")
        name = bug.bad.split("(", 1)[0].split()[-1]
        target.header = (target.header + "\n" if target.header else "") + f"from {stem} import {name}  # noqa: F401\n"
        changes = files()
        changes[moved] = new_module.text()
        h.commit(when, author, f"Move {name} to {moved}", changes)
        return
    indent, quotes = 4, ('"' if variant in ("quotes", "ignore-revs") else "'")
    changes = files()
    changes[bug.module] = target.text(indent, quotes)
    if bug.caller:
        changes[bug.caller[0]] = Module(bug.caller[1], {"caller": bug.caller[2]}).text(indent, quotes)
    sha = h.commit(when, author, "Format the code with the project's style" if variant != "reindent"
                   else "Indent with four spaces", changes)
    if variant == "ignore-revs":
        h.commit(when + timedelta(minutes=5), author, "Ignore the formatting commit in blame",
                 {".git-blame-ignore-revs": f"# formatting\n{sha}\n"})


def build_corpus(root: Path, *, seed: int = 16, now: datetime | None = None) -> list[Case]:
    """Sixteen-plus labelled bugs in four categories under `root` (which must not exist)."""
    now = now or datetime.now(timezone.utc).replace(microsecond=0)
    rng = random.Random(seed)
    root.mkdir(parents=True)
    plan: list[tuple[str, Bug, str]] = []
    plan += [(PROJECT, b, "") for b in PROJECT_BUGS]
    plan += [(CALLER, b, "") for b in CALLER_BUGS]
    plan += [(REFORMAT, b, v) for b, v in zip(PROJECT_BUGS, ["quotes", "reindent", "ignore-revs", "move", "quotes"])]
    plan += [(OLD, b, "") for b in PROJECT_BUGS]
    cases = []
    for n, (category, bug, variant) in enumerate(plan):
        case = build_case(root, f"case{n:02d}", category, bug, rng, now, variant)
        if case is not None:
            cases.append(case)
    return cases
