"""Lua scripts the Redis store runs; each is atomic on the server."""

from __future__ import annotations

# One group commit: the transitions of many concurrent RPCs, applied all at once or not at
# all. Ops are flat in ARGV as `opcode, key index, args...`; each opcode has a fixed arity.
COMMIT = """
-- KEYS[1] = epoch key (STRING): the epoch of the one server allowed to write
-- KEYS[2..] = the keys the ops below name by index
-- ARGV[1] = the writing server's epoch
-- ARGV[2] = g, the number of create guards; ARGV[3 .. 2+g] = key indexes that must not exist
-- ARGV[3+g ..] = ops: opcode, key index, then the opcode's arguments
-- Returns 'OK', or {'EXISTS', key index} and writes nothing when a guarded key exists.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED another server has taken over this Redis')
end
local g = tonumber(ARGV[2])
for n = 3, 2 + g do
  local k = tonumber(ARGV[n])
  if redis.call('EXISTS', KEYS[k]) == 1 then
    return {'EXISTS', k}
  end
end
local i = 3 + g
local last = #ARGV
while i <= last do
  local op = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  if op == 'set' then
    redis.call('SET', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'setex' then
    redis.call('SET', key, ARGV[i + 2], 'EX', ARGV[i + 3])
    i = i + 4
  elseif op == 'sadd' then
    redis.call('SADD', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'srem' then
    redis.call('SREM', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'hset' then
    redis.call('HSET', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'hdel' then
    redis.call('HDEL', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'hincr' then
    redis.call('HINCRBY', key, ARGV[i + 2], ARGV[i + 3])
    i = i + 4
  elseif op == 'rpush' then
    redis.call('RPUSH', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'expire' then
    redis.call('EXPIRE', key, ARGV[i + 2])
    i = i + 3
  elseif op == 'persist' then
    redis.call('PERSIST', key)
    i = i + 2
  elseif op == 'xadd' then
    redis.call('XADD', key, 'MAXLEN', '~', ARGV[i + 2], '*', 'e', ARGV[i + 3])
    i = i + 4
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
return 'OK'
"""
