"""`python app.py --xheaders`, as run behind a TLS-terminating proxy: the
login cookie becomes Secure and __Host- exactly when the proxy says HTTPS."""

from __future__ import annotations

import http.client
import re
import urllib.parse

import pytest
from test_processes import Site, started  # noqa: F401  (the fixture)

HTTPS = {"X-Forwarded-Proto": "https"}


def login_cookie(site: Site, headers: dict) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", site.port, timeout=20)
    connection.request("GET", "/login")
    page = connection.getresponse()
    xsrf_cookie = re.match(r"_xsrf=([^;]+)", page.getheader("Set-Cookie")).group(1)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.read().decode()).group(1)
    form = urllib.parse.urlencode({"_xsrf": token, "username": "demo", "password": "demo-password"})
    connection.request(
        "POST",
        "/login",
        body=form,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"_xsrf={xsrf_cookie}", **headers},
    )
    response = connection.getresponse()
    assert response.status == 303
    (session,) = [c for c in response.headers.get_all("Set-Cookie") if not c.startswith("_xsrf")]
    connection.close()
    return session


@pytest.mark.parametrize(("args", "secure"), [(["--xheaders"], True), ([], False)])
def test_the_xheaders_option_makes_the_cookie_secure_behind_a_proxy(started, args, secure):  # noqa: F811
    site = started(*args)
    site.wait_for_log("Serving on")
    behind_proxy = login_cookie(site, HTTPS)
    direct = login_cookie(site, {})
    if secure:
        assert behind_proxy.startswith("__Host-session=") and behind_proxy.endswith("; Secure")
    else:
        assert behind_proxy.startswith("session=") and "Secure" not in behind_proxy
    assert direct.startswith("session=") and "Secure" not in direct
    assert site.stop() == 0
