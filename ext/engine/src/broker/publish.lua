-- The `redis` broker's publish (docs/reliable-delivery.md): gives each broadcast of an AnyCable
-- publication its place in its stream's history, keeps it there, and PUBLISHes the publication
-- with that place (`meta.epoch`, `meta.offset`) to every node, all in one atomic step, so every
-- node and every history reader sees the same order. Run by any publisher (Ruby's broadcaster,
-- the engine's tests) with EVALSHA / EVAL; the keys it touches are named from the channel:
--
--   <channel>:epoch             the broker generation (kept until Redis loses its data)
--   <channel>:offset:<stream>   the stream's last offset (INCR from Unix time × 1000; expires
--                               10 history_ttls idle)
--   <channel>:history:<stream>  the stream's messages, a Redis Stream of `offset`, `data`
--                               (at most history_limit; expires history_ttl idle)
--
-- ARGV: channel, the publication JSON (one object or an array; disconnect commands and
-- `meta.transient` broadcasts pass unplaced), history_limit, history_ttl (seconds), and an epoch
-- to take when Redis has none. Returns the PUBLISH's receiver count.
local channel = ARGV[1]
local limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])

local epoch_key = channel .. ':epoch'
local epoch = redis.call('GET', epoch_key)
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', epoch_key, epoch)
end

local decoded = cjson.decode(ARGV[2])
local list = decoded
if decoded[1] == nil then
  list = { decoded }
end

for _, publication in ipairs(list) do
  local stream, data, meta = publication.stream, publication.data, publication.meta
  if type(meta) ~= 'table' then
    meta = {}
  end
  if type(stream) == 'string' and stream ~= '' and data ~= nil and data ~= cjson.null
      and meta.transient ~= true then
    if type(data) ~= 'string' then
      data = cjson.encode(data)
    end
    local offset_key = channel .. ':offset:' .. stream
    local history_key = channel .. ':history:' .. stream
    if redis.call('EXISTS', offset_key) == 0 then
      -- A stream seen for the first time, or idle long enough to be forgotten: its offsets
      -- start from the current Unix time × 1000, past those of any earlier life of the stream
      -- (unless that one placed over 1000 a second), so no position from then can match.
      redis.call('SET', offset_key, redis.call('TIME')[1] .. '000')
    end
    local offset = redis.call('INCR', offset_key)
    redis.call('EXPIRE', offset_key, ttl * 10)
    redis.call('XADD', history_key, 'MAXLEN', limit, '*', 'offset', offset, 'data', data)
    redis.call('EXPIRE', history_key, ttl)
    meta.epoch = epoch
    meta.offset = offset
    publication.meta = meta
  end
end

return redis.call('PUBLISH', channel, cjson.encode(decoded))
