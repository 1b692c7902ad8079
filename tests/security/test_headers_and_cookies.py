"""What every response carries: security headers, exact cookie attributes,
and a plain answer to oversized or unanswerable requests."""

from __future__ import annotations

import email.utils
import re

import pytest

from auth import throttle
from security.conftest import body, raw_request

pytestmark = pytest.mark.gen_test

HTTPS = {"X-Forwarded-Proto": "https"}
SIGNED = r'"2\|1:0\|10:\d{{10}}\|{name_len}:{name}\|60:[A-Za-z0-9+/=]{{60}}\|[0-9a-f]{{64}}"'


def session_cookie_pattern(name: str, attributes: str) -> re.Pattern:
    signed = SIGNED.format(name_len=len(name), name=re.escape(name))
    return re.compile(f"{re.escape(name)}={signed}; {attributes}")


async def login_set_cookies(browser, **form) -> dict[str, str]:
    response = await browser.post("/login", {"username": "demo", "password": "demo-password", **form}, headers=HTTPS)
    assert response.code == 303
    headers = response.headers.get_list("Set-Cookie")
    assert len(headers) == 2, headers
    return {header.split("=", 1)[0]: header for header in headers}


async def test_login_set_cookie_attributes_exact_over_https_behind_a_proxy(browser):
    cookies = await login_set_cookies(browser)
    assert re.fullmatch(r'_xsrf=""; expires=[^;]+ GMT; Path=/; Secure', cookies["_xsrf"])
    session = cookies["__Host-session"]
    assert session_cookie_pattern("__Host-session", "HttpOnly; Path=/; SameSite=Lax; Secure").fullmatch(session)


async def test_remember_me_cookie_attributes_exact(browser, session_config, clock):
    session = (await login_set_cookies(browser, remember="on"))["__Host-session"]
    expires = f"expires={email.utils.formatdate(clock.now + 14 * 86400, usegmt=True)}"  # the fake clock's now + 14 days
    assert session_cookie_pattern("__Host-session", f"{expires}; HttpOnly; Path=/; SameSite=Lax; Secure").fullmatch(
        session
    )


async def test_plain_http_cookie_has_no_secure_and_no_prefix(browser):
    response = await browser.login()
    session = next(c for c in response.headers.get_list("Set-Cookie") if c.startswith("session="))
    assert session_cookie_pattern("session", "HttpOnly; Path=/; SameSite=Lax").fullmatch(session)


@pytest.mark.parametrize("xheaders", [False])
async def test_without_xheaders_a_forwarded_proto_is_not_trusted(browser):
    response = await browser.post("/login", {"username": "demo", "password": "demo-password"}, headers=HTTPS)
    assert next(c for c in response.headers.get_list("Set-Cookie") if "session=" in c).startswith("session=")
    browser.cookies.clear()
    assert "Secure" not in (await browser.get("/login", headers=HTTPS)).headers["Set-Cookie"]


async def test_the_xsrf_cookie_is_secure_over_https_and_only_then(browser):
    over_https = (await browser.get("/login", headers=HTTPS)).headers["Set-Cookie"]
    assert re.fullmatch(r"_xsrf=[^;]+; HttpOnly; Path=/; SameSite=Lax; Secure", over_https), over_https
    browser.cookies.clear()
    over_http = (await browser.get("/login")).headers["Set-Cookie"]
    assert re.fullmatch(r"_xsrf=[^;]+; HttpOnly; Path=/; SameSite=Lax", over_http), over_http


# HTTP's own rules: HEAD is GET without the body; OPTIONS and 405 say what is allowed.

IGNORED_IN_COMPARISON = {"Date", "Set-Cookie"}  # the _xsrf token is new at each visit


@pytest.mark.parametrize("path", ["/", "/login", "/dashboard", "/sessions", "/static/site.css", "/nowhere"])
async def test_head_answers_with_the_headers_of_get_and_no_body(browser, path):
    await browser.login()
    await browser.get(path)  # the dashboard counts visits: "1 visit" is shorter than "2 visits" and "3 visits"
    head, got = await browser.request(path, method="HEAD"), await browser.get(path)
    assert head.code == got.code and head.body == b""
    assert {k: v for k, v in head.headers.get_all() if k not in IGNORED_IN_COMPARISON} == {
        k: v for k, v in got.headers.get_all() if k not in IGNORED_IN_COMPARISON
    }
    assert int(head.headers["Content-Length"]) == len(got.body)


async def test_a_head_request_counts_no_visit_and_pops_no_message(browser):
    await browser.login()
    await browser.get("/dashboard")
    await browser.request("/dashboard", method="HEAD")
    assert "<strong>2</strong> times" in (await browser.get("/dashboard")).body.decode(), "the HEAD was not counted"
    await browser.logout()
    await browser.request("/", method="HEAD")
    assert "You have been logged out." in (await browser.get("/")).body.decode(), "the HEAD left the message"


@pytest.mark.parametrize(
    "path,allowed",
    [
        ("/", "GET, HEAD, OPTIONS"),
        ("/login", "GET, HEAD, POST, OPTIONS"),
        ("/logout", "POST, OPTIONS"),
        ("/static/site.css", "GET, HEAD, OPTIONS"),
    ],
)
async def test_options_and_405_answers_carry_allow(browser, path, allowed):
    options = await browser.request(path, method="OPTIONS")
    assert (options.code, options.headers["Allow"]) == (204, allowed)
    refused = await browser.request(path, method="PUT", body="")
    assert (refused.code, refused.headers["Allow"]) == (405, allowed)
    assert "does not accept that kind of request" in body(refused)
    if "GET" not in allowed:
        refused = await browser.get(path)
        assert (refused.code, refused.headers["Allow"]) == (405, allowed)


async def test_https_session_follows_the_prefixed_cookie_only(browser):
    await browser.post("/login", {"username": "demo", "password": "demo-password"}, headers=HTTPS)
    prefixed = browser.cookies["__Host-session"]
    assert (await browser.get("/dashboard", headers=HTTPS)).code == 200
    # The same value under the plain name, as a sibling subdomain could set it, is not a login.
    plain = await browser.get("/dashboard", headers={**HTTPS, "Cookie": f"session={prefixed}"})
    assert plain.code == 302


SECURITY_HEADERS = {
    "Content-Security-Policy": None,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Vary": "Cookie",
}


def assert_security_headers(response):
    for name, value in SECURITY_HEADERS.items():
        assert name in response.headers, f"{name} missing on a {response.code}"
        if value:
            assert response.headers[name] == value
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp and "script-src" not in csp, "no script at all, inline or not"
    assert "default-src 'none'" in csp


async def test_security_headers_on_every_page(browser):
    pages = [await browser.get(path) for path in ("/", "/login", "/dashboard", "/sessions", "/nowhere")]
    await browser.login()
    pages += [await browser.get(path) for path in ("/", "/login", "/dashboard", "/sessions", "/nowhere")]
    pages.append(await browser.get("/logout"))  # 405
    pages.append(await browser.request("/logout", method="POST"))  # 403
    pages.append(await browser.logout())  # 303
    pages.append(await browser.get("/", headers={"X-Big": "x" * 20_000}))  # 431
    codes = set()
    for response in pages:
        assert_security_headers(response)
        codes.add(response.code)
    assert codes == {200, 302, 303, 403, 404, 405, 431}


async def test_security_headers_on_the_429_page(browser):
    for _ in range(throttle.FREE_ATTEMPTS):
        await browser.login(password="wrong")
    response = await browser.login()
    assert response.code == 429
    assert_security_headers(response)


async def test_oversized_headers_are_answered_431_with_advice(browser):
    await browser.login()
    response = await browser.get("/dashboard", headers={"Cookie": f"session=x; junk={'j' * 20_000}"})
    assert response.code == 431
    assert "Delete this site" in body(response)
    response = await browser.get("/", headers={f"X-Many-{n}": "y" * 100 for n in range(200)})
    assert response.code == 431


async def test_headers_past_tornados_limit_close_the_connection_and_the_server_goes_on(browser, base_url):
    status, _ = await raw_request(base_url, b"GET / HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"h" * 70_000)
    assert status == 0, "Tornado drops it before any handler runs; a proxy in front answers 431"
    assert (await browser.get("/")).code == 200
