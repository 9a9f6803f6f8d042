// Face tracking: one stable id per person within a shot, as pipeline/tracking.py does it
// (its docstring says why each rule is there). Matching pairs each track's predicted box with
// this frame's boxes by overlap, or by centre distance for fast moves, less half the appearance
// distance where both looks are known; the best pairs are taken first. A new track is tentative
// until seen `confirm_hits` times over `confirm_ms`; a confirmed track survives `max_age_ms`
// unseen, then is lost, and for `reid_ms` a newcomer may take its id back through the "where"
// gate (near the path it left on) and the "what" gate (its look, clearly better than any other).
// A shot cut ends every track.
//
// Boxes are [x1, y1, x2, y2]. Settings: shared_constants.json's "tracker".

import { appearanceDistance, blend, iou, looksOf } from "./look.js";

const width = (b) => b[2] - b[0];
const height = (b) => b[3] - b[1];
const area = (b) => width(b) * height(b);
const centre = (b) => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];

/** A track's box moved along its velocity to `t` (Track.predicted). */
export function predicted(track, t) {
  const dt = Math.max(0, t - track.lastMs);
  const dx = track.velocity[0] * dt;
  const dy = track.velocity[1] * dt;
  return [track.box[0] + dx, track.box[1] + dy, track.box[2] + dx, track.box[3] + dy];
}

/** How well a box continues a predicted box: 1 + IoU when they overlap enough, else up to 1 for
 * a close centre of a similar size, else 0 (tracking._motion_score). */
export function motionScore(pred, box, iouThreshold) {
  const overlap = iou(pred, box);
  if (overlap >= iouThreshold) return 1 + overlap;
  const [px, py] = centre(pred);
  const [bx, by] = centre(box);
  const size = Math.max(width(pred), height(pred), width(box), height(box));
  const distance = Math.sqrt((px - bx) ** 2 + (py - by) ** 2) / size;
  const ratio = Math.min(area(pred), area(box)) / Math.max(area(pred), area(box));
  if (distance < 0.6 && ratio > 0.5) return 1 - distance;
  return 0;
}

// Python compares (score, key, index) tuples; sorted in reverse, best first.
const byTupleDesc = (a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2];

export class FaceTracker {
  constructor(settings) {
    this.settings = settings;
    /** Tracks being followed (tentative and confirmed), by internal key, in creation order. */
    this.tracks = new Map();
    /** Confirmed tracks unseen for longer than max_age_ms, still re-associable. */
    this.lost = new Map();
    this.events = { confirmed: [], revived: [], ended: [] };
    this.lastKeys = [];
    this.nextKey = 1;
    this.nextId = 1;
  }

  /** Match this frame's boxes to tracks; each box's person id (null: not yet a person).
   * options: {frame (RGBA frame: enables the look), cut, learn (one flag per box)}. */
  update(boxes, t, { frame = null, cut = false, learn = null } = {}) {
    this.events = { confirmed: [], revived: [], ended: [] };
    if (cut) {
      this.events.ended.push(...this.tracks.keys(), ...this.lost.keys());
      this.tracks.clear();
      this.lost.clear();
    }
    this.expire(t);
    let looks = frame ? looksOf(frame, boxes, this.settings) : boxes.map(() => null);
    if (learn) looks = looks.map((look, i) => (learn[i] ? look : null));
    const keys = boxes.map(() => null);
    const used = new Set();
    for (const [, key, index] of this.pairs(boxes, looks, t)) {
      if (used.has(key) || keys[index] !== null) continue;
      used.add(key);
      keys[index] = key;
      this.advance(this.tracks.get(key), boxes[index], looks[index], t);
    }
    boxes.forEach((box, index) => {
      if (keys[index] === null) keys[index] = this.start(box, looks[index], t);
    });
    this.lastKeys = keys;
    for (const key of keys) {
      const track = this.tracks.get(key);
      if (track.id === null) this.revive(track);
      this.maybeConfirm(track);
    }
    return keys.map((k) => this.tracks.get(k).id);
  }

  pairs(boxes, looks, t) {
    const s = this.settings;
    const out = [];
    for (const track of this.tracks.values()) {
      const pred = predicted(track, t);
      boxes.forEach((box, index) => {
        let score = Math.max(motionScore(pred, box, s.iou_threshold), motionScore(track.box, box, s.iou_threshold));
        if (score <= 0) return;
        if (s.appearance_weight > 0 && track.appearance && looks[index]) {
          score -= s.appearance_weight * appearanceDistance(track.appearance, looks[index]);
        }
        out.push([score + (track.id !== null ? 0.05 : 0), track.key, index]);
      });
    }
    return out.sort(byTupleDesc);
  }

  start(box, look, t) {
    const track = {
      key: this.nextKey++,
      box,
      firstMs: t,
      lastMs: t,
      velocity: [0, 0],
      hits: 1,
      id: null,
      appearance: look,
    };
    this.tracks.set(track.key, track);
    return track.key;
  }

  revive(track) {
    const revived = this.reassociate(track);
    if (revived === null) return;
    const old = this.lost.get(revived);
    this.lost.delete(revived);
    track.id = old.id;
    track.firstMs = old.firstMs;
    track.hits = old.hits + track.hits;
    this.events.revived.push([track.key, old.key]);
  }

  /** Whether a face at `box` first seen at `t` can be `lost` coming back (tracking.within_gate). */
  withinGate(lost, box, t) {
    const s = this.settings;
    const gone = t - lost.lastMs;
    const ratio = area(box) / Math.max(area(lost.box), 1);
    if (!(gone >= 0 && gone <= s.reid_ms) || !(ratio >= 0.5 && ratio <= 2)) return false;
    const size = Math.max(width(lost.box), height(lost.box));
    const radius = size * Math.min(s.gate_max, s.gate_base + (s.gate_growth * gone) / 1000);
    const [ax, ay] = centre(lost.box);
    const ahead = Math.min(gone, s.gate_horizon_ms);
    const bx = ax + lost.velocity[0] * ahead;
    const by = ay + lost.velocity[1] * ahead;
    const [px, py] = centre(box);
    const dx = bx - ax;
    const dy = by - ay;
    const length = dx * dx + dy * dy;
    const u = length === 0 ? 0 : Math.min(1, Math.max(0, ((px - ax) * dx + (py - ay) * dy) / length));
    return Math.sqrt((px - ax - u * dx) ** 2 + (py - ay - u * dy) ** 2) <= radius;
  }

  gated(track) {
    return [...this.lost.values()].filter((lost) => this.withinGate(lost, track.box, track.firstMs));
  }

  reassociate(track) {
    const s = this.settings;
    if (!track.appearance || this.lost.size === 0 || s.reid_ms <= 0) return null;
    const scored = this.gated(track)
      .filter((lost) => lost.appearance)
      .map((lost) => [appearanceDistance(lost.appearance, track.appearance), lost.key])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    if (scored.length === 0 || scored[0][0] > s.reid_distance) return null;
    if (scored.length > 1 && scored[1][0] - scored[0][0] < 0.05) return null;
    return scored[0][1];
  }

  maybeConfirm(track) {
    const s = this.settings;
    const wait =
      this.lost.size > 0 && this.gated(track).length > 0 ? Math.max(s.confirm_ms, s.reid_wait_ms) : s.confirm_ms;
    if (track.id !== null || track.hits < s.confirm_hits || track.lastMs - track.firstMs < wait) return;
    track.id = this.nextId++;
    this.events.confirmed.push(track.key);
  }

  advance(track, box, look, t) {
    const dt = t - track.lastMs;
    if (dt > 0) {
      const [ox, oy] = centre(track.box);
      const [nx, ny] = centre(box);
      const k = this.settings.velocity_smoothing;
      track.velocity = [
        k * track.velocity[0] + (1 - k) * ((nx - ox) / dt),
        k * track.velocity[1] + (1 - k) * ((ny - oy) / dt),
      ];
    }
    if (look) track.appearance = track.appearance ? blend(track.appearance, look, 0.2) : look;
    track.box = box;
    track.lastMs = t;
    track.hits += 1;
  }

  expire(t) {
    const s = this.settings;
    for (const track of [...this.tracks.values()]) {
      const gone = t - track.lastMs;
      if (track.id !== null && gone > s.max_age_ms) {
        this.tracks.delete(track.key);
        if (s.reid_ms > 0) this.lost.set(track.key, track);
        else this.events.ended.push(track.key);
      } else if (track.id === null && gone > Math.min(s.tentative_miss_ms, s.max_age_ms)) {
        this.tracks.delete(track.key);
        this.events.ended.push(track.key);
      }
    }
    for (const track of [...this.lost.values()]) {
      if (t - track.lastMs > s.reid_ms) {
        this.lost.delete(track.key);
        this.events.ended.push(track.key);
      }
    }
  }

  reset() {
    this.events.ended.push(...this.tracks.keys(), ...this.lost.keys());
    this.tracks.clear();
    this.lost.clear();
  }
}
