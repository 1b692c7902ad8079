"""Property: whatever cookie and form fields arrive, the answer is never a
5xx and never a login. Hypothesis picks the inputs; the example count is
small and the run derandomised, so the suite stays fast and CI stable."""

from __future__ import annotations

import urllib.parse

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from security.conftest import raw_request, sign

# Any bytes a header line can hold: everything but CR and LF.
header_bytes = st.binary(max_size=120).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
cookie_values = st.one_of(
    header_bytes,
    st.text(max_size=60).map(lambda v: sign(v).encode()),  # a valid signature round a value never issued
    st.text(max_size=60).map(lambda v: sign(v, "_xsrf").encode()),
    st.sampled_from([b'{"$ne":null}', b"2|1:0|10:1|7:session|0:|", b'"', b"=" * 50, "é日本".encode()]),
)
field = st.text(max_size=200)
forms = st.fixed_dictionaries(
    {"username": st.one_of(field, st.just("demo")), "password": field, "next": field},
    optional={"remember": field, "session": field, "username[$ne]": field},
)

FUZZ = settings(
    max_examples=60,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(cookie=cookie_values, form=forms, raw_body=st.binary(max_size=100))
def test_arbitrary_cookies_and_form_fields_never_give_a_5xx_or_a_login(
    io_loop, browser, base_url, clock, cookie, form, raw_body
):
    clock.advance(2 * 86400)  # past the throttle's memory, so the password is checked

    async def visit():
        token = await browser.xsrf()
        cookies = b"Cookie: _xsrf=" + browser.cookies["_xsrf"].encode() + b"; session=" + cookie
        form_body = urllib.parse.urlencode({**form, "_xsrf": token}).encode()
        for body in (form_body, form_body + b"&" + raw_body):
            status, answer = await raw_request(base_url, b"POST /login HTTP/1.1\r\nHost: x\r\n" + cookies, body)
            assert 200 <= status < 500, answer[:300]
            assert status != 303 and b"/dashboard" not in answer.split(b"\r\n\r\n")[0], "logged in"
        status, answer = await raw_request(base_url, b"GET /dashboard HTTP/1.1\r\nHost: x\r\n" + cookies)
        assert status in (302, 400), answer[:300]

    io_loop.run_sync(visit, timeout=10)
