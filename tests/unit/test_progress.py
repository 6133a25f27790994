"""Progress reports reach whoever listens, and only while they listen."""

from rich.console import Console

from triageflow.progress import listening, progress_bar, report


def test_listeners_hear_reports_only_inside_their_block():
    heard = []
    report("before", 1)
    with listening(lambda *a: heard.append(a)):
        report("issues", 100, 200)
    report("after", 1)
    assert heard == [("issues", 100, 200)]


def test_the_bar_names_each_step(tmp_path):
    console = Console(file=open(tmp_path / "out.txt", "w"), force_terminal=True, width=100)
    with progress_bar(console, transient=False):
        report("tags of new issues", 3, 10)
        report("tags of new issues", 10, 10)
    console.file.close()
    text = (tmp_path / "out.txt").read_text()
    assert "tags of new issues" in text and "10/10" in text
