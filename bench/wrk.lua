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

-- Counting a page's answers exactly (bench/load.py's visit counters). When wrk's
-- time is up it drops the requests in flight, which the server may still have
-- counted. So after COUNT_FOR_MS the connections turn to TAIL_PATH (a 404
-- that counts nothing) and, once every request for the page has its answer,
-- the thread stops and says WRK_DRAINED; load.py then interrupts wrk, which
-- prints its summary. Requests/s is taken over the COUNT_FOR_MS only.
-- The jar takes each Set-Cookie into the following requests, as a browser
-- does: a session kept in the cookie then counts as it would in one browser
-- with that many tabs.
local count_for_us = tonumber(os.getenv("COUNT_FOR_MS") or "0") * 1000
local tail_path = os.getenv("TAIL_PATH")
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *now);
  unsigned long pthread_self(void);
]])
local clock = ffi.new("bench_timespec")

local function now_us()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1e6 + tonumber(clock.tv_nsec) / 1e3
end

local page_request, tail_request, started_us, main_thread
local jar = {}

local function remember_cookies()
  local pairs_ = {}
  for name, value in pairs(jar) do
    table.insert(pairs_, name .. "=" .. value)
  end
  table.sort(pairs_)
  cookie_header = table.concat(pairs_, "; ")
  if cookie_header ~= "" then
    wrk.headers["Cookie"] = cookie_header
  end
  page_request = wrk.format()
  tail_request = wrk.format("GET", tail_path, nil, nil)
end

if count_for_us > 0 then
  function request()
    if not started_us then
      -- wrk calls this once from its main thread to check the request: that one is never sent.
      if ffi.C.pthread_self() == main_thread then
        return page_request
      end
      started_us = now_us()
    end
    if not draining and now_us() - started_us >= count_for_us then
      draining = true
      counted_us = now_us() - started_us
      page_answers_in_time = page_answers -- for requests/s: what the page answered in its time
    end
    if draining then
      return tail_request
    end
    page_sent = page_sent + 1
    return page_request
  end
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  answers = 0
  unexpected = 0
  unexpected_3xx, unexpected_4xx, unexpected_5xx = 0, 0, 0
  page_sent, page_answers, page_ok, tail_answers = 0, 0, 0, 0
  counted_us, page_answers_in_time = 0, 0
  draining = false
  cookie_header = wrk.headers["Cookie"] or ""
  for name, value in string.gmatch(cookie_header, "([^=;%s]+)=([^;]*)") do
    jar[name] = value
  end
  if count_for_us > 0 then
    remember_cookies()
    main_thread = ffi.C.pthread_self() -- init() runs on wrk's main thread
  end
end

local function take_cookies(headers)
  local changed = false
  for header, value in pairs(headers) do
    if string.lower(header) == "set-cookie" then
      local name, cookie = string.match(value, "^%s*([^=]+)=([^;]*)")
      if name and jar[name] ~= cookie then
        jar[name] = cookie
        changed = true
      end
    end
  end
  if changed then
    remember_cookies()
  end
end

function response(status, headers, body)
  answers = answers + 1
  if count_for_us > 0 then
    if draining and status == 404 then
      tail_answers = tail_answers + 1
      return
    end
    page_answers = page_answers + 1
    if status == expected then
      page_ok = page_ok + 1
    end
    take_cookies(headers)
    if draining and page_answers == page_sent then
      io.write("WRK_DRAINED\n")
      io.stdout:flush()
      wrk.thread:stop()
    end
  end
  if status ~= expected then
    unexpected = unexpected + 1
    if status >= 500 then
      unexpected_5xx = unexpected_5xx + 1
    elseif status >= 400 then
      unexpected_4xx = unexpected_4xx + 1
    elseif status >= 300 then
      unexpected_3xx = unexpected_3xx + 1
    end
  end
  if stop_after > 0 and answers >= stop_after then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, name in ipairs({"unexpected", "unexpected_3xx", "unexpected_4xx", "unexpected_5xx", "page_sent", "page_answers", "page_ok", "tail_answers", "counted_us",
                         "page_answers_in_time"}) do
    total[name] = 0
    for _, thread in ipairs(threads) do
      total[name] = total[name] + thread:get(name)
    end
  end
  local cookie = threads[1]:get("cookie_header") or ""
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "unexpected": %d, ' ..
    '"unexpected_3xx": %d, "unexpected_4xx": %d, "unexpected_5xx": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "timeout": %d, "page_sent": %d, "page_answers": %d, ' ..
    '"page_ok": %d, "tail_answers": %d, "counted_us": %d, "page_answers_in_time": %d, "cookie": "%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), total.unexpected,
    total.unexpected_3xx, total.unexpected_4xx, total.unexpected_5xx,
    e.connect, e.read, e.write, e.timeout, total.page_sent, total.page_answers, total.page_ok,
    total.tail_answers, total.counted_us, total.page_answers_in_time,
    (string.gsub(cookie, '[\\"]', "\\%0"))))
end
