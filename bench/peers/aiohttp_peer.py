"""aiohttp + aiohttp-session: the session in an encrypted cookie, or with a Redis URL, in Redis.
PEER_SECRET=KEY python bench/peers/aiohttp_peer.py PORT [redis://127.0.0.1:6379]"""

import hashlib
import os
import sys

import aiohttp_jinja2
import jinja2
import page
from aiohttp import web
from aiohttp_session import get_session, new_session, setup
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from aiohttp_session.redis_storage import RedisStorage
from redis.asyncio import Redis


async def login(request):
    form = await request.post()
    session = await new_session(request)  # a new identity: with Redis, a new key
    session.update(page.signed_in(form["username"]))
    raise web.HTTPSeeOther("/dashboard")


async def dashboard(request):
    session = await get_session(request)
    if "user" not in session:
        raise web.HTTPFound("/login")
    session["visits"] += 1  # loaded, added to and saved whole: overlapping requests overwrite each other
    html = aiohttp_jinja2.render_string("dashboard.html", request, page.dashboard(**session))
    return web.Response(text=html, content_type="text/html", headers=page.HEADERS)


if __name__ == "__main__":
    app, redis_url = web.Application(), sys.argv[2] if len(sys.argv) > 2 else None
    key = hashlib.sha256(os.environ["PEER_SECRET"].encode()).digest()  # Fernet wants 32 bytes
    setup(app, RedisStorage(Redis.from_url(redis_url)) if redis_url else EncryptedCookieStorage(key))
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(page.TEMPLATES))
    app.add_routes([web.post("/login", login), web.get("/dashboard", dashboard)])
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
