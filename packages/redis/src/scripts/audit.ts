/**
 * The Lua script of `RedisStreamSink`: appends one producer's audit events to the stream.
 */
import { COMMANDS, type ScriptDefinition } from './commands';

/**
 * Appends one producer's events, skipping those already stored, records the producer's head and
 * trims entries older than the retention. Atomic, so the head always matches the stream.
 *
 * The events come in packs of consecutive sequence numbers: each pack becomes one stream entry,
 * fields `lines` (the events' JSON, one per line: JSON escapes line breaks inside strings) and
 * `n` (the number of events). A pack at or below the producer's recorded head was stored by an
 * earlier write (a spool replay) and is skipped; a pack that overlaps it loses the lines up to the
 * head.
 *
 * KEYS[1] stream, KEYS[2] heads hash
 * ARGV[1] producer, ARGV[2] MINID for trimming ('' for none), ARGV[3] head value of the last
 * event ("<seq> <hash> <epoch ms>"), then per pack: first seq, last seq, JSON lines.
 * Returns the number of events added.
 */
export const AUDIT_APPEND_LUA = `
-- The producer's recorded head, "<seq> <hash> <epoch ms>", or false for a new producer.
local head = redis.call('HGET', KEYS[2], ARGV[1])
-- The highest sequence number already stored (0 for none).
local top = 0
if head then top = tonumber(string.match(head, '^(%d+)')) or 0 end
local added = 0
-- One pack per three ARGV after the first three.
for i = 4, #ARGV - 2, 3 do
  local first = tonumber(ARGV[i])
  local last = tonumber(ARGV[i + 1])
  local lines = ARGV[i + 2]
  -- A pack entirely at or below the head was stored already: skip it.
  if last > top then
    if first <= top then
      -- Overlap: drop the first (top - first + 1) lines, the events stored already.
      local at = 0
      for _ = first, top do at = string.find(lines, '\\n', at + 1, true) end
      lines = string.sub(lines, at + 1)
      first = top + 1
    end
    -- One entry per pack; Redis assigns the id (its time).
    redis.call('XADD', KEYS[1], '*', 'lines', lines, 'n', tostring(last - first + 1))
    added = added + last - first + 1
    top = last
  end
end
-- The head moves only when something was stored.
if added > 0 then redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
-- Storage limitation: entries older than the retention go.
if ARGV[2] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', ARGV[2]) end
return added
`;

/** The sink's script: KEYS are the stream and the heads hash. */
export const AUDIT_APPEND_SCRIPT: ScriptDefinition = {
  name: COMMANDS.auditAppend,
  numberOfKeys: 2,
  lua: AUDIT_APPEND_LUA,
};
