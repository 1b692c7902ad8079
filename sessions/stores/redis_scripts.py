"""The Lua scripts behind RedisStore. Redis runs a script as one step that
no other client's command can interleave with, and in one round trip; so an
update can check that its session still exists and write in the same step.

Each script touches ONE key, the one it is given, so it runs on a Redis
Cluster too: a session's hash and its user's index live in different slots,
and RedisStore keeps the index in step by separate calls, in an order that
leaves any failure between them harmless (see redis.py).

Redis does not undo a script's writes when it fails halfway: every check
(a value that cannot be incremented, an index that must grow first) comes
before the first write.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple


class Lua(NamedTuple):
    text: str
    sha: str


def _lua(text: str) -> Lua:
    return Lua(text, hashlib.sha1(text.encode()).hexdigest())


# Redis's clock, in ms: what it deletes keys by.
_NOW = "local time = redis.call('TIME') local now = time[1] * 1000 + math.floor(time[2] / 1000)\n"

# KEYS: session. ARGV: expires (ms), then field, value, ...
# 0: the key is taken; 1: created; 2: already past its expiry, so Redis kept nothing.
CREATE = _lua("""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for j = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end  -- unpack() stops near 8000
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
return 2 - redis.call('EXISTS', KEYS[1])
""")

# KEYS: the user's index. ARGV: session key, listed until (ms).
# Drops what Redis has expired, so the set holds live sessions, not history,
# and lives as long as its longest-listed session only.
INDEX = _lua(
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
redis.call('PEXPIREAT', KEYS[1], redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
"""
)

# KEYS: the user's index. Its entries still listed, after dropping the rest.
LISTED = _lua(
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
)

# KEYS: session. ARGV: expires (ms) or '', the user and the time until which
# the caller has just listed the session in that user's index ('' and '' if
# not), then four lists, each its length first: field, value to set; fields
# to delete; field, amount to increment by; field, JSON item to append.
# Returns nil if the session is gone or ended; {'index', user, expires}
# when the user's index must list it longer first (nothing written);
# else {'ok', the user it left or '', field, new value, ...}.
UPDATE = _lua(
    _NOW
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local at = 4
local function list(width)
  local items, last = {}, at + tonumber(ARGV[at]) * width
  for j = at + 1, last do items[#items + 1] = ARGV[j] end
  at = last + 1
  return items
end
local to_set, to_delete, increments, appends = list(2), list(1), list(2), list(2)
local old_user = redis.call('HGET', KEYS[1], 'user')
local user = old_user
for j = 1, #to_set, 2 do if to_set[j] == 'user' then user = to_set[j + 1] end end
for _, field in ipairs(to_delete) do if field == 'user' then user = false end end
local expires = tonumber(ARGV[1]) or math.ceil((tonumber(redis.call('HGET', KEYS[1], 'expires')) or 0) * 1000)
-- The absolute timeout, or a web server's clock behind Redis's: the session ends here.
if expires <= now then redis.call('DEL', KEYS[1]) return false end
-- A session is listed in its user's index at least as long as it lives.
local listed = 0
if user and user == old_user then listed = tonumber(redis.call('HGET', KEYS[1], 'listed')) or 0 end
if user and user == ARGV[2] then listed = math.max(listed, tonumber(ARGV[3])) end
if user and listed < expires then return {'index', user, tostring(expires)} end
-- Check everything and work out new values before writing anything.
local integers, computed = {}, {}
for j = 1, #increments, 2 do
  local field, by = increments[j], increments[j + 1]
  local old = redis.call('HGET', KEYS[1], field)
  if old and not (string.find(old, '^-?%d') and tonumber(old)) then return redis.error_reply('NOTANUMBER ' .. field) end
  if string.find(by, '^-?%d+$') and string.find(old or '0', '^-?%d+$') then
    integers[#integers + 1] = {field, by, old}  -- HINCRBY: exact to 64 bits, where Lua numbers are doubles
  else
    local sum = tonumber(old or '0') + tonumber(by)
    if sum ~= sum or sum == math.huge or sum == -math.huge then return redis.error_reply('OVERFLOW ' .. field) end
    local text = string.format('%.17g', sum)
    for digits = 15, 16 do  -- the shortest text that reads back as the same double, as Python writes it
      local shorter = string.format('%.' .. digits .. 'g', sum)
      if tonumber(shorter) == sum then text = shorter break end
    end
    if not string.find(text, '[.eE]') then text = text .. '.0' end  -- a float stays a float
    computed[#computed + 1] = field
    computed[#computed + 1] = text
  end
end
for j = 1, #appends, 2 do
  local field, item = appends[j], appends[j + 1]
  local old = redis.call('HGET', KEYS[1], field) or '[]'
  if string.sub(old, 1, 1) ~= '[' then return redis.error_reply('NOTALIST ' .. field) end
  computed[#computed + 1] = field  -- text, not cjson: cjson would turn large integers into floats
  computed[#computed + 1] = old == '[]' and '[' .. item .. ']' or string.sub(old, 1, -2) .. ',' .. item .. ']'
end
for j, integer in ipairs(integers) do
  local result = redis.pcall('HINCRBY', KEYS[1], integer[1], integer[2])
  if type(result) == 'table' then
    for k = 1, j - 1 do  -- put back those already added
      if integers[k][3] then redis.call('HSET', KEYS[1], integers[k][1], integers[k][3])
      else redis.call('HDEL', KEYS[1], integers[k][1]) end
    end
    -- Only an overflow is ours to report; any other error (OOM, READONLY) is Redis's own.
    if string.find(result.err, 'overflow') then return redis.error_reply('OVERFLOW ' .. integer[1]) end
    return result
  end
end
for _, fields in ipairs({computed, to_set}) do
  for j = 1, #fields, 2 do redis.call('HSET', KEYS[1], fields[j], fields[j + 1]) end
end
for _, field in ipairs(to_delete) do redis.call('HDEL', KEYS[1], field) end
if user then redis.call('HSET', KEYS[1], 'listed', listed) else redis.call('HDEL', KEYS[1], 'listed') end
redis.call('PEXPIREAT', KEYS[1], expires)
local values = {'ok', old_user ~= user and old_user or ''}
for _, changed in ipairs({increments, appends}) do
  for j = 1, #changed, 2 do
    values[#values + 1] = changed[j]
    values[#values + 1] = redis.call('HGET', KEYS[1], changed[j])
  end
end
return values
"""
)

# KEYS: session. ARGV: '' to delete it whoever it belongs to, or the only
# user whose session it may be. Returns {1 if deleted else 0, its user or ''}.
DELETE = _lua("""
local user = redis.call('HGET', KEYS[1], 'user') or ''
if ARGV[1] ~= '' and user ~= ARGV[1] then return {0, user} end
return {redis.call('DEL', KEYS[1]), user}
""")
