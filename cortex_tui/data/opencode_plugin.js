// cortex-tui's OpenCode plugin: appends the events cortex-tui needs to the session's events file
// ($CORTEX_OPENCODE_EVENTS), one JSON line per event and one appendFileSync (O_APPEND) per line:
// {"source": "opencode", "ts": <epoch s>, "event": <bus event type>, "payload": <its properties>}.
// Loaded through OPENCODE_CONFIG_CONTENT {"plugin": ["file://…"]} by cortex_tui/agents/opencode.py.
// Never throws into OpenCode: a failed write is dropped (the supervisor then shows unknown, never a guess).
import { appendFileSync } from "node:fs";

const FILE = process.env.CORTEX_OPENCODE_EVENTS;
const WANT = new Set([
  "session.status", "session.idle", "session.error", "permission.asked", "permission.replied",
  "message.updated", "message.part.updated",
]);
const MAX = 2000;

function trim(v, depth) {
  if (typeof v === "string") return v.length <= MAX ? v : v.slice(0, MAX) + `…[${v.length - MAX} more chars]`;
  if (depth > 6 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.slice(0, 200).map((x) => trim(x, depth + 1));
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = trim(x, depth + 1);
  return out;
}

export const CortexEvents = async () => ({
  event: async ({ event }) => {
    if (!FILE || !event || !WANT.has(event.type)) return;
    const props = event.properties || {};
    // text parts stream as many updates: only tool and step parts say something about state
    if (event.type === "message.part.updated" && !["tool", "step-finish"].includes(props.part && props.part.type)) return;
    try {
      appendFileSync(FILE, JSON.stringify({ source: "opencode", ts: Date.now() / 1000, event: event.type,
                                            payload: trim(props, 0) }) + "\n");
    } catch (e) { /* the events file is gone (session ended): nothing to tell */ }
  },
});
