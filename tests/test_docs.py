"""The documentation stays true of the code: every excerpt is still the
lines it names, every link leads somewhere, the README's tour names every
file, and docs/options.md every option."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from tornado.options import options

import app  # noqa: F401 (defines the options)

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
EXCERPT = re.compile(r"<!-- lines: (\S+) (\d+)-(\d+) -->\n```\w*\n(.*?)```", re.S)


def excerpts() -> list[tuple[str, str, int, int, str]]:
    found = []
    for doc in DOCS:
        for path, first, last, text in EXCERPT.findall(doc.read_text()):
            found.append((doc.name, path, int(first), int(last), text))
    return found


def test_the_tutorial_shows_excerpts():
    assert sum(doc == "tutorial.md" for doc, *_ in excerpts()) >= 10


@pytest.mark.parametrize("doc,path,first,last,text", excerpts(), ids=lambda value: str(value)[:40])
def test_every_excerpt_is_still_the_lines_it_names(doc, path, first, last, text):
    lines = (ROOT / path).read_text().splitlines(keepends=True)
    assert "".join(lines[first - 1 : last]) == text, f"{doc}: {path} lines {first}-{last} have changed"


def links(doc: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if not re.match(r"[a-z]+:", target)]


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_link_leads_to_a_file_and_a_heading_that_exist(doc):
    for target in links(doc):
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{doc.name}: {target}"
        if anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}
            assert anchor in slugs, f"{doc.name}: no heading #{anchor} in {path}"


def test_the_readme_is_a_short_front_door():
    assert len((ROOT / "README.md").read_text()) <= 12_000


def test_the_readme_tour_names_every_file_a_reader_meets():
    tour = (ROOT / "README.md").read_text().split("## A tour of the code", 1)[1].split("\n## ", 1)[0]
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    readable = [
        path
        for path in tracked
        if path.endswith((".py", ".html", ".css", ".svg", ".typed")) and not path.startswith(("tests/", "bench/"))
    ]
    missing = [path for path in readable if Path(path).name not in tour]
    assert not missing, f"not in the README's tour: {missing}"


def test_docs_options_names_every_option_of_app_py():
    page = (ROOT / "docs" / "options.md").read_text()
    ours = [name for name, option in options._options.items() if option.file_name.endswith("app.py")]
    assert ours and all(f"`--{name.replace('_', '-')}`" in page for name in ours)
