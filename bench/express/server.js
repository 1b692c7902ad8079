// The peer: express + express-session, logged-in plain-text dashboard.
// node server.js PORT SECRET
const express = require("express");
const session = require("express-session");

const [port, secret] = process.argv.slice(2);
const app = express();
app.use(
  session({
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: { httpOnly: true, sameSite: "lax" },
  }),
);
app.use(express.urlencoded({ extended: false }));

app.post("/login", (req, res, next) => {
  req.session.regenerate((err) => {
    if (err) return next(err);
    req.session.user = "demo";
    res.redirect(303, "/dashboard");
  });
});

app.get("/dashboard", (req, res) => {
  if (!req.session.user) return res.redirect("/login");
  req.session.visits = (req.session.visits || 0) + 1;
  res.type("text/plain").send(`Hello, ${req.session.user}. You have viewed this page ${req.session.visits} times.\n`);
});

app.listen(Number(port), "127.0.0.1");
