"""Starlette + SessionMiddleware: the whole session lives in a signed cookie.

PEER_SECRET=KEY uvicorn --app-dir bench/peers starlette_peer:app --port 8890 --no-access-log
"""

import os

import page
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import RedirectResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

templates = Jinja2Templates(directory=page.TEMPLATES)


async def login(request):
    form = await request.form()
    request.session.clear()
    request.session.update(page.signed_in(form["username"]))
    return RedirectResponse("/dashboard", status_code=303)


async def dashboard(request):
    session = request.session
    if "user" not in session:
        return RedirectResponse("/login", status_code=302)
    session["visits"] += 1  # in the cookie this response sends back; a request with an older cookie counts from there
    context = page.dashboard(**session)
    return templates.TemplateResponse(request, "dashboard.html", context, headers=page.HEADERS)


app = Starlette(
    routes=[Route("/login", login, methods=["POST"]), Route("/dashboard", dashboard)],
    # max_age=None: a browser-session cookie, as the site's.
    middleware=[Middleware(SessionMiddleware, secret_key=os.environ["PEER_SECRET"], max_age=None)],
)
