-- For bench/load.py: counts answers other than EXPECT_STATUS (wrk itself
-- only counts 4xx/5xx, and a logged-out dashboard answers 302), can stop
-- after STOP_AFTER answers, and prints the summary as one JSON line.
local expected = tonumber(os.getenv("EXPECT_STATUS") or "200")
local stop_after = tonumber(os.getenv("STOP_AFTER") or "0")
if os.getenv("FORM_BODY") then
  wrk.method = "POST"
  wrk.body = os.getenv("FORM_BODY")
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
-- For bench/flood.py: BODY_BYTES pads the form to that size; MADE_UP_USERS
-- sends each login under a username never seen before.
if os.getenv("BODY_BYTES") then
  wrk.body = wrk.body .. "&pad=" .. string.rep("x", tonumber(os.getenv("BODY_BYTES")))
end
if os.getenv("MADE_UP_USERS") then
  local sent = 0
  local prefix = tostring(math.random(1e9))
  function request()
    sent = sent + 1
    return wrk.format(nil, nil, nil, wrk.body .. "&username=made-up-" .. prefix .. "-" .. sent)
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  answers = 0
  unexpected = 0
end

function response(status, headers, body)
  answers = answers + 1
  if status ~= expected then
    unexpected = unexpected + 1
  end
  if stop_after > 0 and answers >= stop_after then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "unexpected": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), bad,
    e.connect, e.read, e.write, e.timeout))
end
