"""The Lua scripts behind RedisStore. Redis runs a script as one step that
no other client's command can interleave with, and in one round trip; so an
update can check that its session still exists and write in the same step.

Redis does not undo a script's writes when it fails halfway: every check
(a value that cannot be incremented) comes before the first write.
Each script starts with what it is given: KEYS, then ARGV.
"""

# The user's set holds each session key scored by its expiry, and lives as
# long as the longest-lived of them.
INDEX = """
local function index(user) return ARGV[1] .. 'user:' .. user end
local function indexed(user, expires_ms)
  local set = index(user)
  redis.call('ZADD', set, expires_ms, ARGV[2])
  redis.call('PEXPIREAT', set, redis.call('ZRANGE', set, -1, -1, 'WITHSCORES')[2])
end
"""
# KEYS: session. ARGV: prefix, store key, expires (ms), then field, value, ...
CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for j = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end  -- unpack() stops near 8000
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
local user = redis.call('HGET', KEYS[1], 'user')
if user then indexed(user, ARGV[3]) end
return 1
"""
# KEYS: session. ARGV: prefix, store key, expires (ms) or '', then four lists,
# each its length first: field, value to set; fields to delete; field, amount
# to increment by; field, JSON item to append.
UPDATE = """
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
local expires_ms = ARGV[3]
if expires_ms == '' then expires_ms = math.ceil((tonumber(redis.call('HGET', KEYS[1], 'expires')) or 0) * 1000) end
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
  if type(redis.pcall('HINCRBY', KEYS[1], integer[1], integer[2])) == 'table' then
    for k = 1, j - 1 do  -- beyond 64 bits: put back those already added
      if integers[k][3] then redis.call('HSET', KEYS[1], integers[k][1], integers[k][3])
      else redis.call('HDEL', KEYS[1], integers[k][1]) end
    end
    return redis.error_reply('OVERFLOW ' .. integer[1])
  end
end
for _, fields in ipairs({computed, to_set}) do
  for j = 1, #fields, 2 do redis.call('HSET', KEYS[1], fields[j], fields[j + 1]) end
end
for _, field in ipairs(to_delete) do redis.call('HDEL', KEYS[1], field) end
redis.call('PEXPIREAT', KEYS[1], expires_ms)
local user = redis.call('HGET', KEYS[1], 'user')
if old_user and old_user ~= user then redis.call('ZREM', index(old_user), ARGV[2]) end
if user then indexed(user, expires_ms) end
local values = {}
for _, changed in ipairs({increments, appends}) do
  for j = 1, #changed, 2 do
    values[#values + 1] = changed[j]
    values[#values + 1] = redis.call('HGET', KEYS[1], changed[j])
  end
end
return values
"""
# KEYS: session. ARGV: prefix, store key.
DELETE = """
local user = redis.call('HGET', KEYS[1], 'user')
redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', index(user), ARGV[2]) end
"""
# KEYS: the user's set. ARGV: prefix. Keys that Redis expired leave the set here.
FIND = """
local found = {}
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. 'session:' .. key)
  if #fields == 0 then
    redis.call('ZREM', KEYS[1], key)
  else
    found[#found + 1] = key
    found[#found + 1] = fields
  end
end
return found
"""
# KEYS: the user's set. ARGV: prefix, the key to keep.
DELETE_BY_USER = """
local ended = 0
for _, key in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if key ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. 'session:' .. key)
    redis.call('ZREM', KEYS[1], key)
  end
end
return ended
"""
