"""The site end to end over HTTP: every page, and the login -> dashboard ->
logout walk with cookies and _xsrf carried by hand."""

import logging

import pytest

pytestmark = pytest.mark.gen_test


def text(response) -> str:
    return response.body.decode()


@pytest.mark.parametrize("path", ["/", "/login"])
async def test_public_pages_render_in_the_layout(browser, path):
    response = await browser.get(path)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    assert "/static/site.css?v=" in text(response)


async def test_static_files_are_served(browser):
    assert (await browser.get("/static/site.css")).code == 200
    assert (await browser.get("/static/favicon.svg")).code == 200


async def test_login_form_has_labels_autocomplete_xsrf_and_demo_hint(browser):
    page = text(await browser.get("/login"))
    assert '<label for="username">' in page and '<label for="password">' in page
    assert 'autocomplete="username"' in page and 'autocomplete="current-password"' in page
    assert 'name="_xsrf"' in page
    assert "<code>demo</code>" in page and "<code>demo-password</code>" in page


async def test_full_walk_login_dashboard_logout(browser, store):
    response = await browser.login()
    assert response.code == 303
    assert response.headers["Location"] == "/dashboard"
    assert len(store) == 1

    first = await browser.get("/dashboard")
    assert first.code == 200
    assert "Hello, Demo User" in text(first)
    assert "viewed this page <strong>1</strong> time in this session" in text(first)
    second = await browser.get("/dashboard")
    assert "viewed this page <strong>2</strong> times in this session" in text(second)

    response = await browser.logout()
    assert response.code == 303 and response.headers["Location"] == "/"
    home = await browser.get("/")
    assert "You have been logged out." in text(home)
    assert len(store) == 0, "the flash was shown, so nothing is left to keep"
    response = await browser.get("/dashboard")
    assert response.code == 302
    assert response.headers["Location"].startswith("/login?next=%2Fdashboard")


async def test_wrong_password_shows_one_generic_message_and_keeps_username(browser, store):
    response = await browser.login(password="wrong")
    assert response.code == 200
    assert "Wrong username or password." in text(response)
    assert 'value="demo"' in text(response)
    assert "session" not in browser.cookies and len(store) == 0


async def test_unknown_user_gets_the_same_answer(browser):
    wrong_password = text(await browser.login(password="wrong"))
    unknown_user = text(await browser.login(username="nobody", password="wrong"))
    assert "Wrong username or password." in unknown_user
    assert wrong_password.replace('value="demo"', "") == unknown_user.replace('value="nobody"', "").replace(
        *_xsrf_pair(wrong_password, unknown_user)
    )


def _xsrf_pair(a: str, b: str) -> tuple[str, str]:
    import re

    pattern = r'name="_xsrf" value="([^"]+)"'
    return re.search(pattern, b).group(1), re.search(pattern, a).group(1)


async def test_logout_by_get_is_refused(browser):
    await browser.login()
    response = await browser.get("/logout")
    assert response.code == 405
    assert "405" in text(response)
    assert (await browser.get("/dashboard")).code == 200


async def test_anonymous_dashboard_redirects_to_login_with_next(browser):
    response = await browser.get("/dashboard")
    assert response.code == 302
    assert response.headers["Location"] == "/login?next=%2Fdashboard"


async def test_login_follows_a_local_next(browser):
    response = await browser.login(next="/dashboard?tab=1")
    assert response.headers["Location"] == "/dashboard?tab=1"


@pytest.mark.parametrize("status,path", [(404, "/no-such-page"), (405, "/logout")])
async def test_error_pages_use_the_layout(browser, status, path):
    response = await browser.get(path)
    assert response.code == status
    assert "/static/site.css" in text(response) and "Back to the home page" in text(response)


async def test_post_without_xsrf_is_refused_with_a_page(browser):
    response = await browser.request("/login", method="POST", form={"username": "demo", "password": "demo-password"})
    assert response.code == 403
    assert "Reload the page and try again" in text(response)


@pytest.mark.parametrize(
    "level,logged", [(logging.INFO, ["200", "404"]), (logging.WARNING, ["404"]), (logging.ERROR, [])]
)
async def test_the_access_log_writes_the_lines_its_level_lets_through(browser, caplog, level, logged):
    # serving.Site skips Tornado's formatting of a line its level would drop.
    caplog.set_level(level, logger="tornado.access")
    await browser.get("/")
    await browser.get("/no-such-page")
    assert [record.getMessage().split()[0] for record in caplog.records if record.name == "tornado.access"] == logged
