// The live page's stop summary, one line: how long, how many people, how they mostly looked, and
// whether the session was saved ("Open in dashboard" follows when it was).

import { safeMessage } from "./api.js";
import { counts, pooledShares, seconds, topShares } from "./format.js";

export function saved(msg, { recording, history }) {
  if (msg.session_id && msg.history_error) {
    return `session ${msg.session_id} saved in part (${safeMessage(msg.history_error, "the history database failed; the server's log says why")})`;
  }
  if (msg.session_id) return `saved as session ${msg.session_id}`;
  if (!history) return "not saved: this server keeps no history (start it with moodlens serve --db)";
  if (!recording) return "not saved (Record history was off)";
  return "not saved";
}

// ``ms``: how long the camera ran. Returns the line's text.
export function stopLine(msg, ms, options) {
  const summaries = msg.people_summaries || msg.tracks || [];
  const looks = topShares(pooledShares(summaries));
  const parts = [`Stopped after ${seconds(ms)}`, counts(msg.people || 0, msg.track_count || 0)];
  parts.push(looks || "no face seen");
  parts.push(saved(msg, options));
  return parts.join(" · ") + ".";
}
