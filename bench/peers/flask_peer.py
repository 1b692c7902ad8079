"""Flask under gunicorn (one sync worker): its own session in a signed cookie,
or with PEER_SESSION_DIR set, Flask-Session keeping it in files (cachelib).

PEER_SECRET=KEY gunicorn --chdir bench/peers --workers 1 --bind 127.0.0.1:8890 flask_peer:app
"""

import os

import page
from cachelib.file import FileSystemCache
from flask import Flask, redirect, render_template, request, session
from flask_session import Session

app = Flask(__name__, template_folder=page.TEMPLATES)
app.secret_key = os.environ["PEER_SECRET"]
if "PEER_SESSION_DIR" in os.environ:
    app.config.update(SESSION_TYPE="cachelib", SESSION_CACHELIB=FileSystemCache(os.environ["PEER_SESSION_DIR"]))
    app.config.update(SESSION_PERMANENT=False)
    Session(app)


@app.post("/login")
def login():
    if hasattr(app.session_interface, "regenerate"):  # Flask-Session: a new ID
        app.session_interface.regenerate(session)
    session.clear()
    session.update(page.signed_in(request.form["username"]))
    return redirect("/dashboard", 303)


@app.get("/dashboard")
def dashboard():
    if "user" not in session:
        return redirect("/login")
    session["visits"] += 1  # one sync worker runs one request at a time: with files, no update is lost
    return render_template(
        "dashboard.html", **page.dashboard(session["user"], session["visits"], session["created"])
    ), page.HEADERS
