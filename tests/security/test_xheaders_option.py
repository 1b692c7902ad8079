"""`python app.py --xheaders`, as run behind a TLS-terminating proxy: the
login cookie becomes Secure and __Host- exactly when the proxy says HTTPS,
and only the headers such a proxy sets are believed."""

from __future__ import annotations

import re

import pytest
from test_processes import started  # noqa: F401  (the fixture)

HTTPS = {"X-Forwarded-Proto": "https"}


@pytest.mark.parametrize(("args", "secure"), [(["--xheaders"], True), ([], False)])
def test_the_xheaders_option_makes_the_cookie_secure_behind_a_proxy(started, args, secure):  # noqa: F811
    site = started(*args)
    site.wait_for_log("Serving on")
    behind_proxy = site.login_cookie(HTTPS)
    direct = site.login_cookie()
    if secure:
        assert behind_proxy.startswith("__Host-session=") and behind_proxy.endswith("; Secure")
    else:
        assert behind_proxy.startswith("session=") and "Secure" not in behind_proxy
    assert direct.startswith("session=") and "Secure" not in direct
    assert site.stop() == 0


def test_with_xheaders_a_client_cannot_override_what_the_proxy_forwards(started):  # noqa: F811
    site = started("--xheaders")
    site.wait_for_log("Serving on")
    # The proxy sets X-Forwarded-Proto and appends to X-Forwarded-For; it
    # passes on whatever else the client sent, such as X-Scheme or X-Real-Ip.
    over_https = site.login_cookie(
        {"X-Forwarded-Proto": "https", "X-Scheme": "http", "X-Forwarded-For": "203.0.113.7", "X-Real-Ip": "10.9.9.9"}
    )
    assert over_https.startswith("__Host-session=") and over_https.endswith("; Secure")
    over_http = site.login_cookie({"X-Forwarded-Proto": "http", "X-Scheme": "https"})
    assert over_http.startswith("session=") and "Secure" not in over_http
    assert site.stop() == 0
    logins = [line for line in site.log if re.search(r" 303 POST /login ", line)]
    assert "(203.0.113.7)" in logins[0], "the client's address as the proxy saw it"
