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
-- Returns 'OK'; {'SKIPPED', n} when n ops met a key of the wrong type and were left out;
-- {'EXISTS', key index}, having written nothing, when a guarded key exists.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return redis.error_reply('FENCED another server has taken over this Redis')
end
for _, k in ipairs(cmsgpack.unpack(ARGV[2])) do
  if redis.call('EXISTS', KEYS[k]) == 1 then
    return {'EXISTS', k}
  end
end
local ops = cmsgpack.unpack(ARGV[3])
-- A key holding a value of the wrong type (written by something else) must not fail the
-- commit halfway and every commit after it: a counter that is not a number restarts from
-- the increment, any other op on such a key is skipped and counted in the reply.
local skipped = 0
local function apply(...)
  local ok = redis.pcall(...)
  if type(ok) == 'table' and ok.err then
    skipped = skipped + 1
  end
end
-- A closed interaction's record with its history (compact.py's version 2): the version
-- byte, the history entries as one msgpack array, then the record's array.
local function folded(record)
  if type(record) ~= 'string' or string.byte(record, 1) ~= 2 then
    return {}, nil
  end
  local ok, after, entries = pcall(cmsgpack.unpack_one, record, 1)
  if not ok or type(entries) ~= 'table' or after < 0 then
    return {}, nil
  end
  return entries, string.sub(record, after + 1)
end
local i = 1
local last = #ops
while i <= last do
  local op = ops[i]
  local key = KEYS[tonumber(ops[i + 1])]
  if op == 'set' then
    apply('SET', key, ops[i + 2])
    i = i + 3
  elseif op == 'setex' then
    apply('SET', key, ops[i + 2], 'EX', ops[i + 3])
    i = i + 4
  elseif op == 'sadd' then
    apply('SADD', key, ops[i + 2])
    i = i + 3
  elseif op == 'srem' then
    apply('SREM', key, ops[i + 2])
    i = i + 3
  elseif op == 'hset' then
    apply('HSET', key, ops[i + 2], ops[i + 3])
    i = i + 4
  elseif op == 'hdel' then
    apply('HDEL', key, ops[i + 2])
    i = i + 3
  elseif op == 'hincr' then
    local ok = redis.pcall('HINCRBY', key, ops[i + 2], ops[i + 3])
    if type(ok) == 'table' and ok.err then
      apply('HSET', key, ops[i + 2], ops[i + 3])
    end
    i = i + 4
  elseif op == 'hincrf' then
    local ok = redis.pcall('HINCRBYFLOAT', key, ops[i + 2], ops[i + 3])
    if type(ok) == 'table' and ok.err then
      apply('HSET', key, ops[i + 2], ops[i + 3])
    end
    i = i + 4
  elseif op == 'rpush' then
    apply('RPUSH', key, ops[i + 2])
    i = i + 3
  elseif op == 'rpushcap' then
    -- append, keeping the newest ops[i + 3] entries
    apply('RPUSH', key, ops[i + 2])
    apply('LTRIM', key, -tonumber(ops[i + 3]), -1)
    i = i + 4
  elseif op == 'hpush' then
    -- a history entry: as rpushcap, and a list started after its interaction closed
    -- (whose history the record holds) takes the record's TTL
    local record = KEYS[tonumber(ops[i + 2])]
    apply('RPUSH', key, ops[i + 3])
    apply('LTRIM', key, -tonumber(ops[i + 4]), -1)
    if redis.call('PTTL', key) == -1 then
      local ttl = redis.call('PTTL', record)
      if ttl > 0 then
        apply('PEXPIRE', key, ttl)
      end
    end
    i = i + 5
  elseif op == 'fold' then
    -- a closed record (ops[i + 3]), TTL ops[i + 4]: if ops[i + 6] is 1, written with the
    -- history it held and the list's (KEYS[ops[i + 2]]) entries folded in, the newest
    -- ops[i + 5] kept, and the list deleted; if 0 (a JSON record), what it held goes
    -- back to the front of the list, which takes the TTL
    local history = KEYS[tonumber(ops[i + 2])]
    local data, keep, cap = ops[i + 3], ops[i + 4], tonumber(ops[i + 5])
    local entries = folded(redis.pcall('GET', key))
    if ops[i + 6] == 1 then
      local listed = redis.pcall('LRANGE', history, 0, -1)
      if type(listed) == 'table' and not listed.err and #listed > 0 then
        for _, entry in ipairs(listed) do
          entries[#entries + 1] = entry
        end
        apply('DEL', history)
      end
      if #entries > cap then
        local newest = {}
        for n = #entries - cap + 1, #entries do
          newest[#newest + 1] = entries[n]
        end
        entries = newest
      end
      if #entries > 0 then
        data = string.char(2) .. cmsgpack.pack(entries) .. string.sub(data, 2)
      end
    else
      if #entries > 0 then
        for n = #entries, 1, -1 do
          apply('LPUSH', history, entries[n])
        end
        apply('LTRIM', history, -cap, -1)
      end
      apply('EXPIRE', history, keep)
    end
    apply('SET', key, data, 'EX', keep)
    i = i + 7
  elseif op == 'unfold' then
    -- a record without the history it held, its TTL kept (ForgetCustomer)
    local _, record = folded(redis.pcall('GET', key))
    if record then
      local ttl = redis.call('PTTL', key)
      if ttl > 0 then
        apply('SET', key, string.char(1) .. record, 'PX', ttl)
      else
        apply('SET', key, string.char(1) .. record)
      end
    end
    i = i + 2
  elseif op == 'expire' then
    apply('EXPIRE', key, ops[i + 2])
    i = i + 3
  elseif op == 'persist' then
    apply('PERSIST', key)
    i = i + 2
  elseif op == 'del' then
    apply('DEL', key)
    i = i + 2
  elseif op == 'xforget' then
    -- delete the stream entries listed (ops[i + 2]), then scan the entries after
    -- ops[i + 3] ('' for all) and delete those naming an interaction of ops[i + 4]
    local listed = ops[i + 2]
    for n = 1, #listed, 500 do
      apply('XDEL', key, unpack(listed, n, math.min(n + 499, #listed)))
    end
    local wanted = {}
    for _, iid in ipairs(ops[i + 4]) do
      wanted[iid] = true
    end
    local from = ops[i + 3] == '' and '-' or ('(' .. ops[i + 3])
    while true do
      local entries = redis.pcall('XRANGE', key, from, '+', 'COUNT', 1000)
      if type(entries) ~= 'table' or entries.err then
        break
      end
      for _, entry in ipairs(entries) do
        local fields = entry[2]
        for f = 1, #fields, 2 do
          if fields[f] == 'e' then
            local decoded, event = pcall(cjson.decode, fields[f + 1])
            if decoded and type(event) == 'table' and wanted[event[3]] then
              apply('XDEL', key, entry[1])
            end
          end
        end
      end
      if #entries < 1000 then
        break
      end
      from = '(' .. entries[#entries][1]
    end
    i = i + 5
  elseif op == 'xadd' then
    apply('XADD', key, 'MAXLEN', '~', ops[i + 2], '*', 'e', ops[i + 3])
    i = i + 4
  else
    return redis.error_reply('unknown op ' .. tostring(op))
  end
end
if skipped > 0 then
  return {'SKIPPED', skipped}
end
return 'OK'
"""
