"""axe-core's rules (the engine behind Lighthouse's accessibility audit) on
every page, signed out and signed in."""

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

axe = Axe()


def problems(page) -> list[str]:
    results = axe.run(page).response
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[node['target'] for node in v['nodes']]}"
        for v in results["violations"]
    ]


def test_signed_out_pages(page):
    for path in ["/", "/login", "/login?next=%2Fdashboard&ended=1", "/no-such-page"]:
        page.goto(path)
        assert problems(page) == [], path


def test_login_with_an_error(page, log_in):
    log_in(page, password="wrong")
    expect(page.get_by_role("alert")).to_be_visible()
    assert problems(page) == []


def test_signed_in_pages(page, log_in):
    log_in(page)
    for path in ["/", "/dashboard", "/sessions"]:
        page.goto(path)
        assert problems(page) == [], path
