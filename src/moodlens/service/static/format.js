// How the pages write numbers about people and time: "1.1 min", "5 people (12 tracks)",
// "mostly neutral 49%, happy 31%".

export function plural(n, one, many) { return `${n} ${n === 1 ? one : many}`; }

// "5 people (36 tracks)", "1 person (3 tracks, 1 hidden)".
export function counts(people, tracks, hidden) {
  return `${plural(people, "person", "people")} (${plural(tracks, "track", "tracks")}${hidden ? `, ${hidden} hidden` : ""})`;
}

export function seconds(ms) { return ms < 60000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`; }

export function percent(share) { return `${Math.round(100 * share)}%`; }

export function signed(value) { return `${value >= 0 ? "+" : ""}${value.toFixed(2)}`; }

export function tracksText(person) { return person.track_ids.map((t) => `#${t}`).join(" "); }

// The dominant expression in words: a near tie said as such when the summary says it.
export function mostly(p) { return p.dominant_text || p.dominant || "–"; }

// The two largest shares of time: "mostly neutral 49%, happy 31%" (one when the second is nil).
export function topShares(shares) {
  const top = Object.entries(shares || {}).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1]).slice(0, 2);
  if (!top.length) return "";
  return "mostly " + top.map(([label, share]) => `${label} ${percent(share)}`).join(", ");
}

// Shares of time over several summaries, each weighted by its time.
export function pooledShares(summaries) {
  const out = {};
  let total = 0;
  for (const s of summaries) {
    const weight = s.duration_ms || 0;
    total += weight;
    for (const [label, share] of Object.entries(s.shares || {})) out[label] = (out[label] || 0) + share * weight;
  }
  if (!total) return {};
  for (const label of Object.keys(out)) out[label] /= total;
  return out;
}

// A session at a glance: "1.1 min · 5 people · mostly neutral 49%, happy 31%".
export function glance(ms, people, shares) {
  return [ms == null ? null : seconds(ms), plural(people, "person", "people"), topShares(shares) || null]
    .filter(Boolean).join(" · ");
}
