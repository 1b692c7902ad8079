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
from pathlib import Path

import pytest
from test_processes import ROOT, closed_port, started  # noqa: F401  (fixtures)

MISTAKES = {
    "misspelled option": (["--prot=8000"], "unknown option --prot: did you mean --port?"),
    "unknown option": (["--colour=blue"], "unknown option --colour (--help lists them)"),
    "port not a number": (["--port=abc"], "--port=abc: expected a whole number"),
    "port out of range": (["--port=99999"], "--port=99999: a port is a number from 0 to 65535"),
    "negative processes": (["--processes=-1"], "--processes=-1: expected 0 or more"),
    "zero timeout": (["--idle-timeout=0"], "--idle-timeout=0.0: expected more than 0"),
    "negative body memory": (["--body-memory=-5"], "--body-memory=-5: expected more than 0"),
    "option without its value": (["--port"], "--port needs a whole number: --port=..."),
    "stray word": (["serve"], "unexpected argument 'serve': options look like --port=8000 (--help lists them)"),
    "empty login-failure table": (["--login-failure-table=0"], "--login-failure-table=0: at least 1 account"),
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


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_option_on_standard_output(flag):
    result = run_app(flag)
    assert (result.returncode, result.stderr) == (0, "")
    for option in ("--session-store", "--port", "--idle-timeout", "--body-memory", "--worker-restart-wait"):
        assert option in result.stdout


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_mistake_in_the_store_url_is_said_before_the_port_is_taken(processes):
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        result = run_app(f"--port={port}", f"--processes={processes}", "--session-store=mysql://db/x")
    assert_one_clear_line(
        result, "--session-store: expected 'memory', a mongodb://, redis://, redis+sentinel:// or redis+cluster:// URL"
    )


@pytest.mark.parametrize("processes", ["2", "0"])
def test_a_port_in_use_is_one_clear_line_with_several_workers(processes, closed_port):  # noqa: F811
    with socket.socket() as other_server:
        other_server.bind(("127.0.0.1", 0))
        other_server.listen()
        port = other_server.getsockname()[1]
        result = run_app(
            f"--port={port}", f"--processes={processes}", f"--session-store=redis://127.0.0.1:{closed_port}"
        )
    assert_one_clear_line(result, f"port {port} is in use: stop the other server or pass --port=N")


def test_a_short_cookie_secret_is_warned_about_and_a_long_one_is_not(started):  # noqa: F811
    short = started(cookie_secret="five5")
    short.wait_for_log("The cookie secret is 5 bytes: use at least 32 random ones")
    long = started(cookie_secret="k" * 32)
    long.wait_for_log("Serving on")
    assert short.stop() == 0 and long.stop() == 0
    assert not any("cookie secret is" in line for line in long.log)


def test_no_test_depends_on_the_default_port():
    tests = Path(__file__).parent
    assert not [path for path in tests.rglob("*.py") if "88" + "88" in path.read_text()]


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
