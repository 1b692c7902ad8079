"""Every code block of README.md, docs/api.md and docs/tutorial.md works as
copied, in a fresh directory with nothing of the checkout but the
`sessions` package on the path:

- a Python block named as a file by the comment before it, e.g.
  `<!-- usage snippet (app.py) -->`, is saved under that name (the blocks of
  one page share a directory); `test_*.py` files are run with pytest, the
  others imported;
- any other Python block is run as a script;
- an excerpt (`<!-- excerpt: ... -->`) is whole lines of a file that the
  suite runs, checked by tests/test_docs.py;
- a deliberate fragment says so (`<!-- fragment: why -->`), and has a test
  of its own;
- a shell block names only commands and files that exist, and options that
  the program defines.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import subprocess
import sys
import venv
from pathlib import Path

import pymongo
import pytest
from tornado.options import options

import app  # noqa: F401 (defines the options of app.py)

ROOT = Path(__file__).parent.parent
PAGES = ["README.md", "docs/api.md", "docs/tutorial.md"]
BLOCK = re.compile(r"(?:<!-- ([^\n]*?) -->\n)?```(\w*)\n(.*?)```", re.S)
MAX_FRAGMENTS = 3


def blocks(page: str) -> list[tuple[str, str, str]]:
    """(comment before the block, language, code) for each fenced block."""
    return BLOCK.findall((ROOT / page).read_text())


def run(command: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    # The package from this checkout, and nothing else of it.
    package = cwd / "_package"
    if not package.exists():
        package.mkdir()
        (package / "sessions").symlink_to(ROOT / "sessions")
    env = {**os.environ, "PYTHONPATH": str(package)}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_every_python_block_is_a_file_a_script_an_excerpt_or_a_declared_fragment():
    fragments = []
    for page in PAGES:
        assert 2 * len(blocks(page)) == (ROOT / page).read_text().count("```"), f"{page}: a block was not found"
        for comment, language, _ in blocks(page):
            assert language in ("python", "sh"), f"{page}: a ```{language} block"
            if comment.startswith("fragment:"):
                fragments.append((page, comment))
    assert len(fragments) <= MAX_FRAGMENTS, fragments


@pytest.mark.parametrize("page", PAGES)
def test_every_python_block_runs_as_copied(page, tmp_path):
    saved, scripts = [], []
    for comment, language, code in blocks(page):
        if language != "python" or comment.startswith(("excerpt:", "fragment:")):
            continue
        named = re.search(r"\((\w+\.py)\)", comment)
        if named:
            (tmp_path / named.group(1)).write_text(code)
            saved.append(named.group(1))
        else:
            scripts.append(code)
    for code in scripts:
        result = run([sys.executable, "-c", code], tmp_path)
        assert result.returncode == 0, f"{page}:\n{code}\n{result.stderr}"
    for name in saved:
        if name.startswith("test_"):
            result = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name], tmp_path)
            assert result.returncode == 0 and " passed" in result.stdout, f"{page}: {name}\n{result.stdout}"
        else:
            result = run([sys.executable, "-c", f"import {name.removesuffix('.py')}"], tmp_path)
            assert result.returncode == 0, f"{page}: {name}\n{result.stderr}"


def commands(script: str) -> list[list[str]]:
    return [shlex.split(part) for line in script.splitlines() for part in line.split("&&") if part.strip()]


# What each program's options are: app.py's from Tornado's registry.
PROGRAM_OPTIONS = {
    "app.py": {name.replace("_", "-") for name in options._options},
    "examples/minimal.py": {"port", "help"},
}


def check_command(words: list[str]) -> None:
    if words[0] == "export":
        assert len(words) == 2 and re.fullmatch(r"[A-Z_]+=.+", words[1]), words
        return
    while re.fullmatch(r"[A-Z_]+=.*", words[0]):  # VARIABLE=value before the command
        words = words[1:]
    program, *args = words
    if program == "python3" and args[:2] == ["-m", "venv"]:
        return
    if program.endswith("/pip") or program == "pip":
        assert args[0] == "install", words
        for flag, value in itertools.pairwise(args):
            if flag == "-r":
                assert (ROOT / value).exists(), f"no {value}"
        return
    if program == "apt-get":
        assert args[:2] == ["install", "-y"] or args[0] == "install", words
        return
    assert program in (".venv/bin/python", "python", "python3"), f"a command the docs should not name: {words}"
    if args[0] == "-m":
        assert subprocess.run([sys.executable, "-c", f"import {args[1]}"], capture_output=True).returncode == 0, words
        return
    script, *flags = args
    assert (ROOT / script).exists(), f"no {script}"
    for flag in flags:
        name = flag.removeprefix("--").split("=")[0]
        assert name in PROGRAM_OPTIONS[script], f"{script} has no option --{name}"


@pytest.mark.parametrize("page", PAGES)
def test_every_shell_block_names_commands_files_and_options_that_exist(page):
    scripts = [code for _, language, code in blocks(page) if language == "sh"]
    for script in scripts:
        for words in commands(script):
            check_command(words)


def fragment(page: str, starting: str) -> str:
    [code] = [code for comment, _, code in blocks(page) if comment.startswith(f"fragment: {starting}")]
    return code


@pytest.mark.slow
def test_the_tutorials_mongodb_step_keeps_sessions_through_a_restart(tmp_path, wire_server):
    """docs/tutorial.md section 7 followed alone: minimal.py with its
    make_app() and main() replaced, on nx-27017 instead of localhost:27017."""
    from test_minimal_example import Opener, free_port, wait_until_listening

    example = (ROOT / "examples" / "minimal.py").read_text()
    step = fragment("docs/tutorial.md", "replaces make_app() and main() in examples/minimal.py")
    step = step.replace("mongodb://localhost:27017", wire_server.url("").rstrip("/"))
    start, end = example.index("def make_app("), example.index('if __name__ == "__main__":')
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "minimal.py").write_text(example[:start] + step + "\n\n" + example[end:])
    (tmp_path / "examples" / "templates").symlink_to(ROOT / "examples" / "templates")
    (tmp_path / "sessions").symlink_to(ROOT / "sessions")
    port = free_port()
    env = {**os.environ, "COOKIE_SECRET": "the same long random string at every start"}

    def serve() -> subprocess.Popen:
        command = [sys.executable, "examples/minimal.py", f"--port={port}"]
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
        wait_until_listening(process, port)
        return process

    def stop(process: subprocess.Popen) -> str:
        process.terminate()
        return process.communicate(timeout=20)[1]

    browser = Opener(f"http://127.0.0.1:{port}")
    first = serve()
    try:
        where, shown = browser.submit("/login", "/login", {"name": "Ada"})
        assert where == "/dashboard" and "visited this page 1 time in" in shown
    finally:
        errors = stop(first)
    assert "Traceback" not in errors, errors
    second = serve()
    try:
        where, shown = browser.open("/dashboard")
        assert where == "/dashboard" and "Hello, Ada" in shown and "visited this page 2 times" in shown
    finally:
        errors = stop(second)
    assert "Traceback" not in errors, errors
    with pymongo.MongoClient(wire_server.url("")) as client:
        ttl = [index for index in client["myapp"]["sessions"].list_indexes() if "expireAfterSeconds" in index]
    assert ttl, "create_indexes() made the TTL index"


@pytest.mark.slow
def test_api_md_install_line_lets_its_test_file_run_in_a_fresh_virtualenv(tmp_path):
    """On Python 3.12+ a new virtualenv has no setuptools, so without api.md's
    pin pytest-tornado cannot import pkg_resources; with it, the test passes."""
    [install] = [code for _, language, code in blocks("docs/api.md") if language == "sh"]
    [test_file] = [code for comment, _, code in blocks("docs/api.md") if "(test_dashboard.py)" in comment]
    (tmp_path / "test_dashboard.py").write_text(test_file)
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")

    def pip(*packages: str) -> None:
        subprocess.run([python, "-m", "pip", "install", "--quiet", *packages], check=True, capture_output=True)

    def pytest_run() -> subprocess.CompletedProcess:
        return run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_dashboard.py"], tmp_path)

    assert shlex.split(install)[:2] == ["pip", "install"]
    packages = shlex.split(install)[2:]
    pip("tornado>=6.6.1,<7", *[package for package in packages if not package.startswith("setuptools")])
    if sys.version_info >= (3, 12):
        assert "No module named 'pkg_resources'" in pytest_run().stderr
    pip(*packages)
    result = pytest_run()
    assert result.returncode == 0 and "1 passed" in result.stdout, result.stdout + result.stderr
