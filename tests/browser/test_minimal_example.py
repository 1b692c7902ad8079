"""examples/minimal.py in Chromium: the walk a learner takes through it."""

import re

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from examples.minimal import make_app


def test_log_in_by_name_count_visits_and_log_out(serve, new_context):
    page = new_context(base_url=serve(make_app)).new_page()
    page.goto("/")
    assert Axe().run(page).response["violations"] == []
    page.get_by_role("link", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Ada")
    counter = page.get_by_text("You have visited this page")
    expect(counter).to_have_text("You have visited this page 1 time in this session.")
    assert Axe().run(page).response["violations"] == []
    page.reload()
    expect(counter).to_have_text("You have visited this page 2 times in this session.")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert Axe().run(page).response["violations"] == []
    page.goto("/dashboard")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_a_form_sent_without_its_xsrf_token_gets_a_page_that_says_why(serve, new_context):
    page = new_context(base_url=serve(make_app)).new_page()
    page.goto("/login")
    page.evaluate("document.querySelector('input[name=_xsrf]').remove()")
    page.get_by_label("Your name").fill("Ada")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("403 Forbidden")
    expect(page.get_by_text("Why: '_xsrf' argument missing from POST.")).to_be_visible()
    assert Axe().run(page).response["violations"] == []
