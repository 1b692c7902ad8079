"""The drivers the stores need (PyMongo, Motor, redis-py): the README's one
install command brings them all, and where one is missing anyway the error
names a command that works for the reader: `pip install -r requirements.txt`
for the site (which only runs from a checkout), the package on PyPI for the
library (tornado-sessions itself is not on PyPI, so its extras cannot be
named)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
REQUIREMENTS = ROOT / "requirements.txt"


def run_without(modules: list[str], code: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter in the checkout, where importing any of
    `modules` fails as it does when the package is not installed."""
    blocked = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in modules)
    return subprocess.run(
        [sys.executable, "-c", blocked + code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "missing,url,driver",
    [(["redis"], "redis://127.0.0.1:6379/0", "pymongo"), (["motor"], "mongodb://127.0.0.1:27017/x", "motor")],
    ids=["redis", "motor"],
)
def test_the_site_names_the_checkouts_install_command_when_a_driver_is_missing(missing, url, driver):
    opened = run_without(missing, f"from serving.storage import open_store\nopen_store({url!r}, driver={driver!r})")
    assert opened.returncode == 1
    assert opened.stderr.strip().splitlines()[-1].endswith("pip install -r requirements.txt"), opened.stderr
    assert "Traceback" not in opened.stderr


@pytest.mark.parametrize(
    "name,missing,package", [("MongoStore", ["pymongo", "bson"], "pymongo"), ("RedisStore", ["redis"], "redis")]
)
def test_the_library_names_the_package_on_pypi_when_a_driver_is_missing(name, missing, package):
    code = (
        "import sessions\nsessions.MemoryStore()\n"
        f"try:\n    getattr(sessions, {name!r})\nexcept ImportError as e:\n    print(e)\n"
    )
    imported = run_without(missing, code)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == f"{name} needs its driver: pip install {package}"


def test_every_install_command_in_an_error_is_one_that_works():
    advice = [
        (path, command)
        for folder in ("sessions", "serving")
        for path in (ROOT / folder).rglob("*.py")
        for command in re.findall(r"pip install ([^\"'\n]+)", path.read_text())
    ]
    assert advice, "the errors name install commands"
    required = {re.split(r"[\[<>=]", line)[0].lower() for line in requirements()}
    for path, command in advice:
        target = command.split("{")[0].strip()
        assert target in ("-r requirements.txt", "") or target.lower() in required, (path.name, command)
    assert "tornado-sessions[" not in "".join(command for _, command in advice)


def requirements() -> list[str]:
    lines = (line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


@pytest.mark.slow
def test_the_readmes_install_gives_a_site_that_opens_every_store_it_names(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    installed = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], capture_output=True, text=True
    )
    assert installed.returncode == 0, installed.stderr
    stores = [
        ("memory", "pymongo"),
        ("mongodb://127.0.0.1:27017/x", "pymongo"),
        ("mongodb://127.0.0.1:27017/x", "motor"),
        ("redis://127.0.0.1:6379/0", "pymongo"),
    ]
    code = "import app\nfrom serving.storage import open_store\n" + "".join(
        f"print(type(open_store({url!r}, driver={driver!r})).__name__)\n" for url, driver in stores
    )
    opened = subprocess.run([python, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.split() == ["MemoryStore", "MongoStore", "MongoStore", "RedisStore"]


def test_no_page_or_error_tells_anyone_to_install_tornado_sessions_from_the_package_index():
    # Not on PyPI: `pip install 'tornado-sessions[redis]'` fails. From a
    # checkout, `pip install '.[redis]'` or `-r requirements.txt` work.
    pages = [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "sessions").rglob("*.py")]
    pages += [*(ROOT / "serving").glob("*.py"), ROOT / "app.py"]
    advice = [(page.name, line) for page in pages for line in page.read_text().splitlines() if "pip install" in line]
    assert advice
    assert [(name, line) for name, line in advice if re.search(r"pip install \S*tornado-sessions", line)] == []


def test_the_mongo_extra_installs_pymongo_and_the_motor_extra_adds_motor():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {extra: {re.split(r"[\[<>=]", requirement)[0] for requirement in extras[extra]} for extra in extras}
    assert names["mongo"] == {"pymongo"}
    assert names["motor"] == {"pymongo", "motor"}
