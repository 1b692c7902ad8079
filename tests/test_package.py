"""The package as a user gets it: the wheel holds every file of sessions/
(and nothing of the site), installs into a fresh virtualenv with Tornado
alone, and runs the README's usage snippet from outside the checkout."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

DRIVER = """
import asyncio, sys
import tornado.httpclient, tornado.testing
import sessions, usage_snippet

assert "site-packages" in sessions.__file__, sessions.__file__
try:
    from sessions import MongoStore
except ImportError as e:
    assert "MongoStore needs its driver: pip install pymongo" in str(e), e
else:
    raise AssertionError("MongoStore imported without pymongo installed")

async def main():
    sock, port = tornado.testing.bind_unused_port()
    server = tornado.httpserver.HTTPServer(usage_snippet.make_app())
    server.add_sockets([sock])
    client = tornado.httpclient.AsyncHTTPClient()
    first = await client.fetch(f"http://127.0.0.1:{port}/")
    cookie = first.headers["Set-Cookie"].split(";")[0]
    second = await client.fetch(f"http://127.0.0.1:{port}/", headers={"Cookie": cookie})
    print(first.body.decode(), second.body.decode())

import tornado.httpserver
asyncio.run(main())
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # Built from a copy of what the build needs, so the checkout gets no
    # build/ or egg-info, and a file the build reads from elsewhere fails here.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source)
    shutil.copytree(ROOT / "sessions", source / "sessions", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("tornado_sessions-*.whl"))


def test_the_wheel_holds_every_file_of_the_package_and_nothing_of_the_site(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {str(path.relative_to(ROOT)) for path in (ROOT / "sessions").rglob("*.py")} | {"sessions/py.typed"}
    assert {name for name in names if name.startswith("sessions/")} == package
    assert not {name for name in names if name.split("/")[0] in ("app.py", "handlers", "templates", "tests")}
    assert any(name.endswith("licenses/LICENSE") for name in names)


def test_the_readme_snippet_runs_on_the_wheel_with_tornado_alone(wheel, tmp_path):
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- usage snippet[^>]*-->\n```python\n(.*?)```", readme, re.S).group(1)
    (tmp_path / "usage_snippet.py").write_text(snippet)
    (tmp_path / "driver.py").write_text(DRIVER)
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True)
    installed = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    assert "pymongo" not in installed.stdout and "redis" not in installed.stdout
    run = subprocess.run([python, "driver.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["<p>Visit", "number", "1</p>", "<p>Visit", "number", "2</p>"]
