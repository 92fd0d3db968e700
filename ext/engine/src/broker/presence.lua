-- Presence sets of the `redis` broker (ext/engine/src/broker/presence.rs has the rules): one
-- atomic step per operation, shared by every node of the same Redis and channel. Keys:
--
--   <channel>:presence:<stream>:sessions  sid -> deadline (Unix ms; a sorted set): past it the
--                                         session is taken out. Nodes push the deadline of their
--                                         connected sessions back (`touch`); a node that dies
--                                         stops, and its sessions leave a presence_ttl later.
--   <channel>:presence:<stream>:ids       sid -> presence id
--   <channel>:presence:<stream>:records   presence id -> info JSON ("" for none)
--   <channel>:presence:<stream>:counts    presence id -> its sessions
--   <channel>:presence                    stream -> its earliest deadline, for `sweep`
--
-- The keys of a stream expire 3 presence_ttls after its last operation.
-- ARGV: channel, operation, now (Unix ms), presence_ttl (ms), then per operation:
--   join   stream, sid, id, info      -> { leaves, 1 when the id is new here (else 0, or -1
--                                          when the session is present under another id) }
--   leave  stream, sid                -> { leaves }
--   info   stream                     -> { leaves, total, { id, info, ... } }
--   touch  stream, sid, stream, sid … -> {} (each session's deadline is now + presence_ttl)
--   sweep  limit                      -> { stream, id, ... } of the leaves of expired sessions
-- where leaves are the presence ids whose last session expired during the operation.
local channel, op, now, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local index = channel .. ':presence'

local function keys(stream)
  local prefix = index .. ':' .. stream
  return prefix .. ':sessions', prefix .. ':ids', prefix .. ':records', prefix .. ':counts'
end

-- Takes `sid` out of `stream`; appends its id to `out` when its record left with it.
local function remove(stream, sid, out)
  local sessions, ids, records, counts = keys(stream)
  redis.call('ZREM', sessions, sid)
  local id = redis.call('HGET', ids, sid)
  if not id then
    return
  end
  redis.call('HDEL', ids, sid)
  if redis.call('HINCRBY', counts, id, -1) <= 0 then
    redis.call('HDEL', counts, id)
    redis.call('HDEL', records, id)
    out[#out + 1] = id
  end
end

local function expire(stream, out)
  local sessions = keys(stream)
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', sessions, '-inf', now)) do
    remove(stream, sid, out)
  end
end

-- Files the stream under its earliest deadline (or drops it when empty) and renews its keys.
local function reindex(stream)
  local sessions, ids, records, counts = keys(stream)
  local first = redis.call('ZRANGE', sessions, 0, 0, 'WITHSCORES')
  if first[2] then
    redis.call('ZADD', index, first[2], stream)
    for _, key in ipairs({ sessions, ids, records, counts }) do
      redis.call('PEXPIRE', key, ttl * 3)
    end
  else
    redis.call('ZREM', index, stream)
    redis.call('DEL', sessions, ids, records, counts)
  end
end

if op == 'join' then
  local stream, sid, id, info = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  local sessions, ids, records, counts = keys(stream)
  local leaves = {}
  expire(stream, leaves)
  local current = redis.call('HGET', ids, sid)
  local joined = 0
  if current and current ~= id then
    joined = -1
  else
    redis.call('ZADD', sessions, now + ttl, sid)
    if not current then
      redis.call('HSET', ids, sid, id)
      if redis.call('HINCRBY', counts, id, 1) == 1 then
        joined = 1
      end
    end
    redis.call('HSET', records, id, info)
  end
  reindex(stream)
  return { leaves, joined }
elseif op == 'leave' then
  local stream, sid = ARGV[5], ARGV[6]
  local leaves = {}
  expire(stream, leaves)
  remove(stream, sid, leaves)
  reindex(stream)
  return { leaves }
elseif op == 'info' then
  local stream = ARGV[5]
  local _, _, records = keys(stream)
  local leaves = {}
  expire(stream, leaves)
  reindex(stream)
  return { leaves, redis.call('HLEN', records), redis.call('HGETALL', records) }
elseif op == 'touch' then
  local touched = {}
  for i = 5, #ARGV, 2 do
    local stream, sid = ARGV[i], ARGV[i + 1]
    redis.call('ZADD', (keys(stream)), 'XX', now + ttl, sid)
    touched[stream] = true
  end
  for stream in pairs(touched) do
    reindex(stream)
  end
  return {}
elseif op == 'sweep' then
  local out = {}
  for _, stream in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now, 'LIMIT', 0, tonumber(ARGV[5]))) do
    local leaves = {}
    expire(stream, leaves)
    reindex(stream)
    for _, id in ipairs(leaves) do
      out[#out + 1] = stream
      out[#out + 1] = id
    end
  end
  return out
end
return redis.error_reply('unknown presence operation ' .. tostring(op))
