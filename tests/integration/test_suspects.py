"""Suspect commits on small real git histories: each rule of the ranking, with the confidence it states."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from models.investigations import CommitReport, FrameReport, Investigation, SuspectReport
from tasks.investigation_report import render
from tasks.suspect_search import find_suspects
from tasks.suspects import suspect_note

NOW = datetime.now(timezone.utc).replace(microsecond=0)
FIRST_SEEN = NOW - timedelta(hours=6)


class Repo:
    def __init__(self, root: Path):
        self.root = root
        root.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        self.env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", HOME=str(root))
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, env=None) -> str:
        return subprocess.run(["git", *args], cwd=self.root, env=env or self.env, check=True, capture_output=True,
                              text=True).stdout

    def commit(self, days_ago: float, message: str, files: dict[str, str | None], author: str = "Dev") -> str:
        for path, text in files.items():
            target = self.root / path
            if text is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        stamp = (FIRST_SEEN - timedelta(days=days_ago)).isoformat()
        env = dict(self.env, GIT_AUTHOR_NAME=author, GIT_AUTHOR_EMAIL="dev@example.com", GIT_COMMITTER_NAME=author,
                   GIT_COMMITTER_EMAIL="dev@example.com", GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
        self.git("add", "-A", env=env)
        self.git("commit", "-q", "-m", message, env=env)
        return self.git("rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path) -> Repo:
    return Repo(tmp_path / "repo")


PRICING = """def average_price(items):
    prices = [item['price'] for item in items]
    return sum(prices) / max(len(prices), 1)


def shipping(weight):
    return weight * 2
"""
BROKEN = PRICING.replace("    prices = [item['price'] for item in items]\n    return sum(prices) / max(len(prices), 1)",
                         "    paid = [item['price'] for item in items if item.get('paid')]\n    return sum(paid) / len(paid)")
CRASH = ("app/pricing.py", 3)  # return sum(paid) / len(paid)


def subjects(findings):
    return [(s.commit.subject, s.confidence) for s in findings.suspects]


def test_an_old_blamed_crashing_line_is_a_candidate_and_beats_newer_commits_to_the_file(repo):
    repo.commit(300, "Initial pricing", {"app/pricing.py": PRICING})
    repo.commit(120, "Average over paid items only", {"app/pricing.py": BROKEN})
    repo.commit(5, "Cheaper shipping", {"app/pricing.py": BROKEN.replace("weight * 2", "weight * 1.5")})
    repo.commit(-1, "After the error appeared", {"app/pricing.py": BROKEN.replace("weight * 2", "weight * 1.2")})
    found = find_suspects(repo.root, [CRASH], FIRST_SEEN)
    assert subjects(found)[:2] == [("Average over paid items only", "medium"), ("Cheaper shipping", "low")]
    assert "After the error appeared" not in [s for s, _ in subjects(found)]
    assert "the crashing line" in found.suspects[0].reason


def test_the_window_before_first_seen_raises_rank_and_confidence(repo):
    repo.commit(300, "Initial pricing", {"app/pricing.py": PRICING})
    repo.commit(4, "Average over paid items only", {"app/pricing.py": BROKEN})
    repo.commit(2, "Cheaper shipping", {"app/pricing.py": BROKEN.replace("weight * 2", "weight * 1.5")})
    found = find_suspects(repo.root, [CRASH], FIRST_SEEN)
    assert subjects(found)[0] == ("Average over paid items only", "high")


CODES = "def normalize_code(code):\n    return code.strip().upper()\n"
CONVERT = ("from app.codes import normalize_code\n\nRATES = {'EUR': 1.0, 'USD': 1.1}\n\n\n"
           "def convert_amount(amount, code):\n    return amount * RATES[normalize_code(code)]\n\n\n"
           "def rounding(value):\n    return round(value, 2)\n")


def test_a_recent_change_to_a_function_the_crashing_line_calls_is_the_suspect(repo):
    repo.commit(200, "Currency conversion", {"app/__init__.py": "", "app/codes.py": CODES, "app/convert.py": CONVERT})
    repo.commit(9, "Normalize codes to lower case", {"app/codes.py": CODES.replace("upper", "lower")})
    repo.commit(3, "Round to cents", {"app/convert.py": CONVERT.replace("round(value, 2)", "round(value, 3)")})
    found = find_suspects(repo.root, [("app/convert.py", 7), ("tests/test_convert.py", 4)], FIRST_SEEN)
    assert subjects(found)[0] == ("Normalize codes to lower case", "medium")
    assert found.suspects[0].reason == "changed normalize_code() in app/codes.py, called on the crashing line"
    assert ("Currency conversion", "medium") in subjects(found)  # the crashing line's own (old) commit stays a candidate


def test_a_failing_test_points_at_the_code_it_called(repo):
    discount = "def discount(price, rate):\n    return round(price * (1 - rate), 2)\n"
    test = "from app.discount import discount\n\n\ndef test_gold():\n    value = discount(100, 0.1)\n    assert value == 90\n"
    repo.commit(100, "Discounts", {"app/__init__.py": "", "app/discount.py": discount, "tests/test_discount.py": test})
    repo.commit(6, "Compute discounts from the rate", {"app/discount.py": discount.replace("(1 - rate)", "rate")})
    repo.commit(2, "More tests", {"tests/test_discount.py": test + "\n\ndef test_none():\n    assert discount(0, 0) == 0\n"})
    found = find_suspects(repo.root, [("tests/test_discount.py", 6)], FIRST_SEEN)
    assert subjects(found)[0] == ("Compute discounts from the rate", "high")


def test_javascript_calls_are_resolved_by_name(repo):
    price = "export function totalPrice(items) {\n  return items.reduce((a, i) => a + i.price, 0);\n}\n"
    page = ("import { totalPrice } from '../lib/price';\n\nexport function render(cart) {\n"
            "  const label = totalPrice(cart.items).toFixed(2);\n  return label;\n}\n")
    repo.commit(90, "Checkout page", {"web/lib/price.js": price, "web/pages/checkout.js": page})
    repo.commit(5, "Sum prices in cents", {"web/lib/price.js": price.replace("a + i.price, 0", "a + i.cents")})
    found = find_suspects(repo.root, [("web/pages/checkout.js", 4)], FIRST_SEEN)
    assert subjects(found)[0] == ("Sum prices in cents", "medium")
    assert "totalPrice() in web/lib/price.js" in found.suspects[0].reason


@pytest.mark.parametrize("reformat", ["quotes", "reindent", "ignore-revs", "move"])
def test_reformats_and_moves_after_the_breaking_change_are_looked_through(repo, reformat):
    two_spaces = "\n".join(line.replace("    ", "  ") for line in BROKEN.splitlines()) + "\n"
    repo.commit(200, "Initial pricing", {"app/pricing.py": PRICING})
    repo.commit(8, "Average over paid items only", {"app/pricing.py": two_spaces if reformat == "reindent" else BROKEN})
    crash = CRASH
    if reformat == "quotes":
        repo.commit(3, "Format with the project's style", {"app/pricing.py": BROKEN.replace("'", '"')})
    elif reformat == "reindent":
        repo.commit(3, "Indent with four spaces", {"app/pricing.py": BROKEN})
    elif reformat == "ignore-revs":  # a listed commit is skipped even when it changes the code
        sha = repo.commit(3, "Rename the list", {"app/pricing.py": BROKEN.replace("paid", "paid_prices")})
        repo.commit(2.9, "Ignore the rename in blame", {".git-blame-ignore-revs": f"{sha}\n"})
    else:
        moved = BROKEN.split("\n\n\n")[0] + "\n"
        repo.commit(3, "Move average_price to its own module", {
            "app/average.py": moved, "app/pricing.py": "from app.average import average_price  # noqa: F401\n\n\n"
                                                        "def shipping(weight):\n    return weight * 2\n"})
        crash = ("app/average.py", 3)
    found = find_suspects(repo.root, [crash], FIRST_SEEN)
    assert subjects(found)[0] == ("Average over paid items only", "high")
    if reformat != "ignore-revs":
        assert [c.subject for c in found.skipped_reformats] != [] or reformat == "reindent"


def test_changed_since_the_last_good_release_is_high_even_when_old(repo):
    repo.commit(300, "Initial pricing", {"app/pricing.py": PRICING})
    repo.git("tag", "v1.3.0")
    repo.commit(60, "Average over paid items only", {"app/pricing.py": BROKEN})
    repo.git("tag", "v1.4.0")
    found = find_suspects(repo.root, [CRASH], FIRST_SEEN, release="shop@1.4.0")
    assert found.release == "v1.3.0..v1.4.0"
    assert subjects(found)[0] == ("Average over paid items only", "high")
    assert "since the last good release" in found.suspects[0].reason
    without = find_suspects(repo.root, [CRASH], FIRST_SEEN)  # no release known: old is only medium
    assert subjects(without)[0] == ("Average over paid items only", "medium")


def test_uncommitted_lines_still_give_a_candidate_and_the_report_says_none_is_good(repo):
    repo.commit(200, "Initial pricing", {"app/pricing.py": PRICING, "tests/test_pricing.py": "import app\n"})
    (repo.root / "tests" / "test_pricing.py").write_text("import app\n\n\ndef test_x():\n    assert app.nothing() == 1\n")
    found = find_suspects(repo.root, [("tests/test_pricing.py", 5)], FIRST_SEEN)
    assert subjects(found) == [("Initial pricing", "low")]
    note = suspect_note(found.suspects, True)
    assert note and note.startswith("no good candidate")
    c = CommitReport(sha="a" * 40, short="aaaaaaa", subject="Initial pricing", author="Dev", date=NOW)
    inv = Investigation(
        issue_id="1", short_id="X-1", title="AttributeError", level="error", status="unresolved", project="shop",
        events=1, first_seen=NOW, last_seen=NOW, culprit="", event_id="e", link="http://gt/1",
        frames=[FrameReport(location="tests/test_pricing.py:5 in test_x", repo_path="tests/test_pricing.py",
                            function="test_x", line=5, context_line=None)],
        suspects=[SuspectReport(commit=c, path="tests/test_pricing.py", reason=found.suspects[0].reason, blamed_line=None,
                                before_first_seen="200 days", landed_seconds_before_first_seen=1,
                                confidence=found.suspects[0].confidence)],
        suspect_note=note)
    text = render(inv)
    section = text.split("#### Suspect commits")[1].split("####")[0]
    assert "| commit | subject | author | landed | why | confidence |" in section
    assert section.splitlines()[3].endswith("| low |")
    assert "_No good candidate: no commit changed the crashing line" in section
