"""The documentation stays true of the code: every excerpt is still in the
function or class it names, every link leads somewhere, the README's tour
names every file, and docs/options.md every option."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest
from tornado.options import options

import app  # noqa: F401 (defines the options)
from sessions import SessionConfig

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# <!-- excerpt: examples/minimal.py LoginHandler.post --> before a code block:
# the block is whole lines of that definition, wherever it has moved to.
EXCERPT = re.compile(r"<!-- excerpt: (\S+) ([\w.]+) -->\n```\w*\n(.*?)```", re.S)


def excerpts() -> list[tuple[str, str, str, str]]:
    return [(doc.name, *found) for doc in DOCS for found in EXCERPT.findall(doc.read_text())]


def definition(path: str, name: str) -> str:
    """The source of a function, class or method (Class.method), decorators included."""
    source = (ROOT / path).read_text()
    scope: ast.AST = ast.parse(source)
    for part in name.split("."):
        defined = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        found = [node for node in ast.iter_child_nodes(scope) if isinstance(node, defined) and node.name == part]
        assert found, f"{path} defines no {name}"
        scope = found[0]
    first = min([scope.lineno] + [decorator.lineno for decorator in scope.decorator_list])
    return "".join(source.splitlines(keepends=True)[first - 1 : scope.end_lineno])


def test_the_tutorial_shows_excerpts():
    assert sum(doc == "tutorial.md" for doc, *_ in excerpts()) >= 10


def test_no_excerpt_is_pinned_by_line_numbers():
    assert not [doc.name for doc in DOCS if "<!-- lines:" in doc.read_text()]


@pytest.mark.parametrize("doc,path,name,text", excerpts(), ids=lambda value: str(value)[:40])
def test_every_excerpt_is_still_in_the_definition_it_names(doc, path, name, text):
    lines = definition(path, name).splitlines(keepends=True)
    runs = ("".join(lines[start:end]) for start in range(len(lines)) for end in range(start + 1, len(lines) + 1))
    assert text in runs, f"{doc}: {name} in {path} no longer holds this excerpt"


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


def test_the_tutorial_says_exactly_what_the_express_article_has():
    # The article: app.use(session({ secret, resave, saveUninitialized })), no
    # cookie option, no logout, and res.send("Unauthorized") with status 200.
    tutorial = " ".join((ROOT / "docs" / "tutorial.md").read_text().split())
    assert "`app.use(session({ secret, resave, saveUninitialized }))`" in tutorial
    assert "It sets no `cookie` option and has no logout" in tutorial
    assert 'sends "Unauthorized", with status 200' in tutorial
    assert "The article has no logout." in tutorial
    assert (
        "`saveUninitialized` is `SessionConfig(save_uninitialized=...)`, `False` unless you say otherwise" in tutorial
    )
    assert SessionConfig().save_uninitialized is False and SessionConfig(save_uninitialized=True).save_uninitialized
    assert "resave: false, saveUninitialized: false, cookie" not in tutorial
