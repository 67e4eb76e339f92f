"""Lua scripts the Redis store runs; each is atomic on the server."""

from __future__ import annotations

# One group commit: the transitions of many concurrent RPCs, applied all at once or not at
# all. The ops travel as one msgpack array (one argument to encode, not hundreds), flat as
# `opcode, key index, args...`; each opcode has a fixed arity.
COMMIT = """
-- KEYS[1] = epoch key (STRING): the epoch of the one server allowed to write
-- KEYS[2..] = the keys the ops below name by index
-- ARGV[1] = the writing server's epoch
-- ARGV[2] = msgpack array of key indexes that must not exist (create guards)
-- ARGV[3] = msgpack array of ops, flat: opcode, key index, then the opcode's arguments
-- Returns 'OK', or {'EXISTS', key index} and writes nothing when a guarded key exists.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED another server has taken over this Redis')
end
for _, k in ipairs(cmsgpack.unpack(ARGV[2])) do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    return {'EXISTS', k}
  end
end
local ops = cmsgpack.unpack(ARGV[3])
local i = 1
local last = #ops
while i <= last do
  local op = ops[i]
  local key = KEYS[tonumber(ops[i + 1])]
  if op == 'set' then
    redis.call('SET', key, ops[i + 2])
    i = i + 3
  elseif op == 'setex' then
    redis.call('SET', key, ops[i + 2], 'EX', ops[i + 3])
    i = i + 4
  elseif op == 'sadd' then
    redis.call('SADD', key, ops[i + 2])
    i = i + 3
  elseif op == 'srem' then
    redis.call('SREM', key, ops[i + 2])
    i = i + 3
  elseif op == 'hset' then
    redis.call('HSET', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'hdel' then
    redis.call('HDEL', key, ops[i + 2])
    i = i + 3
  elseif op == 'hincr' then
    redis.call('HINCRBY', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'rpush' then
    redis.call('RPUSH', key, ops[i + 2])
    i = i + 3
  elseif op == 'expire' then
    redis.call('EXPIRE', key, ops[i + 2])
    i = i + 3
  elseif op == 'persist' then
    redis.call('PERSIST', key)
    i = i + 2
  elseif op == 'xadd' then
    redis.call('XADD', key, 'MAXLEN', '~', ops[i + 2], '*', 'e', ops[i + 3])
    i = i + 4
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
return 'OK'
"""
