"""A first run as a new user has it: each command-line mistake is one clear
line and a non-zero exit, and --debug's reloads keep the developer signed in."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time

import pytest
from test_processes import ROOT, started  # noqa: F401  (the fixture)

MISTAKES = {
    "misspelled option": (["--prot=8000"], "unknown option --prot: did you mean --port?"),
    "unknown option": (["--colour=blue"], "unknown option --colour (--help lists them)"),
    "port not a number": (["--port=abc"], "--port=abc: expected a whole number"),
    "port out of range": (["--port=99999"], "--port=99999: a port is a number from 0 to 65535"),
    "option without its value": (["--port"], "--port needs a whole number: --port=..."),
    "stray word": (["serve"], "unexpected argument 'serve': options look like --port=8000 (--help lists them)"),
    "bad session store": (
        ["--session-store=mysql://db/x"],
        "--session-store: expected 'memory', a mongodb://, redis://, redis+sentinel:// or redis+cluster:// URL",
    ),
}


def run_app(*args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "COOKIE_SECRET"}
    return subprocess.run(
        [sys.executable, "app.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=20
    )


def assert_one_clear_line(result: subprocess.CompletedProcess, expected: str) -> None:
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(expected), result.stderr
    assert "Traceback" not in result.stderr and "Usage:" not in result.stderr and not result.stdout


@pytest.mark.parametrize("args,expected", MISTAKES.values(), ids=MISTAKES.keys())
def test_a_command_line_mistake_is_one_clear_line(args, expected):
    assert_one_clear_line(run_app(*args), expected)


def test_a_port_in_use_is_one_clear_line():
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        result = run_app(f"--port={port}")
    assert_one_clear_line(result, f"port {port} is in use: stop the other server or pass --port=N")


def test_help_still_lists_every_option():
    result = run_app("--help")
    assert result.returncode == 0
    assert "--session-store" in result.stderr + result.stdout


def key_version(session_cookie: str) -> str:
    return re.search(r"=\"?2\|\d+:(\d+)\|", session_cookie).group(1)


def test_debug_reloads_keep_the_random_cookie_key(started, tmp_path):  # noqa: F811
    project = tmp_path / "project"  # a copy, so that the test can change a file and not the repository
    shutil.copytree(ROOT, project, ignore=shutil.ignore_patterns(".*", "tests", "bench", "docs", "__pycache__"))
    env = {name: value for name, value in os.environ.items() if name != "COOKIE_SECRET"}
    site = started("--debug", cookie_secret=None, cwd=project, env=env)
    site.wait_for_log("Serving on")
    before = key_version(site.login_cookie())
    changed = project / "handlers" / "home.py"
    # Change it until the reloader, which looks every half second, has seen it change.
    for later in range(1, 40):
        os.utime(changed, (time.time() + later, time.time() + later))
        if site.logged("home.py modified; restarting server", timeout=1):
            break
    site.wait_for_log("Serving on", times=2)
    assert key_version(site.login_cookie()) == before, "the reloaded server signs with the same key"
    assert site.stop() == 0
