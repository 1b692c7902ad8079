"""The site as deployed on Redis: `python app.py --session-store=redis://...`
in real processes, several of them (and several workers) sharing the
sessions, the visit counter and the login throttle through one redis-server."""

from __future__ import annotations

import concurrent.futures
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
import redis_server
from test_processes import Site, signed_session_cookie

from auth import throttle


class Visitor:
    """A browser with a cookie jar that does not follow redirects. The jar
    ignores ports, so one visitor carries its cookies from site to site."""

    def __init__(self) -> None:
        self.cookies = http.cookiejar.CookieJar()
        no_redirects = type("NoRedirects", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a: None})
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), no_redirects)

    def open(self, url: str, form: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, body, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def post(self, site: Site, path: str, form: dict, form_on: str) -> tuple[int, str]:
        token = re.search(r'name="_xsrf" value="([^"]+)"', self.open(site.url + form_on)[1]).group(1)
        return self.open(site.url + path, {**form, "_xsrf": token})

    def login(self, site: Site, password: str = "demo-password") -> int:
        return self.post(site, "/login", {"username": "demo", "password": password}, form_on="/login")[0]


@pytest.fixture
def two_sites():
    """Two `python app.py` on one Redis database: one process, and one with two workers."""
    url = redis_server.empty_database()
    sites = Site(f"--session-store={url}"), Site(f"--session-store={url}", "--processes=2")
    try:
        sites[0].wait_for_log("Serving on")
        sites[1].wait_for_log("Serving on", times=2)
        yield sites
    finally:
        for site in sites:
            if site.process.poll() is None:
                site.stop()
    assert [site.process.returncode for site in sites] == [0, 0]
    assert not any("Traceback" in line for site in sites for line in site.log)


def test_a_login_and_a_logout_are_shared_by_two_app_processes(two_sites):
    first, second = two_sites
    visitor = Visitor()
    assert visitor.login(first) == 303
    status, page = visitor.open(second.url + "/dashboard")
    assert status == 200 and "Hello, Demo User" in page
    assert visitor.post(second, "/logout", {}, form_on="/dashboard")[0] == 303
    assert visitor.open(first.url + "/dashboard")[0] == 302


def test_forty_concurrent_dashboard_requests_on_one_session_are_all_counted(two_sites):
    visitor = Visitor()
    assert visitor.login(two_sites[0]) == 303
    urls = [two_sites[n % 2].url + "/dashboard" for n in range(40)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        answers = list(pool.map(visitor.open, urls))
    assert [status for status, _ in answers] == [200] * 40
    counts = sorted(int(re.search(r"viewed this page <strong>(\d+)</strong>", page).group(1)) for _, page in answers)
    assert counts == list(range(1, 41)), "each request added one, and saw its own count"
    assert "viewed this page <strong>41</strong>" in visitor.open(two_sites[1].url + "/dashboard")[1]


def test_the_login_throttle_counts_failures_across_processes(two_sites):
    for n in range(throttle.FREE_ATTEMPTS):
        assert Visitor().login(two_sites[n % 2], password="wrong") == 200
    assert [Visitor().login(site) for site in two_sites] == [429, 429]


def test_the_site_starts_while_redis_is_down_and_serves_sessions_once_it_is_up():
    with redis_server.running() as server:
        server.stop()
        site = Site(f"--session-store={server.url}", "--store-timeout=0.5")
        try:
            site.wait_for_log("Serving on")
            assert site.get("/")[0] == 200, "a page without a session needs no store"
            status, headers, _ = site.get("/dashboard", cookie="session=" + signed_session_cookie())
            assert (status, headers["Retry-After"]) == (503, "5")
            server.start()
            visitor = Visitor()
            assert visitor.login(site) == 303, "served once Redis is up, with no restart of the site"
            assert visitor.open(site.url + "/dashboard")[0] == 200
        finally:
            assert site.stop() == 0
    assert not any("Traceback" in line for line in site.log)
