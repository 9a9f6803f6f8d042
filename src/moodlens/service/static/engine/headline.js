// The one-line headline of a live view, as pipeline/headline.py does it: it follows one person
// (the largest confirmed track; another only after `hold_ms` gone or `switch_ratio` times larger
// for `switch_ms`), and what it says about them changes only after the new reading has differed
// for `dwell_ms` without a break, with hysteresis on "uncertain" (enter below `uncertain_below`,
// leave at `uncertain_below + uncertain_margin`). A new person or a shot cut changes it at once.
//
// Faces here are the engine's result faces: {box, track_id, shown: index, shown_probabilities}.
// Settings: shared_constants.json's "headline"; labels: its "labels".

const area = (b) => (b[2] - b[0]) * (b[3] - b[1]);
const confidence = (face) => face.shown_probabilities[face.shown];

export class HeadlineTracker {
  constructor(settings, labels, uncertainLabel = "uncertain") {
    this.settings = settings;
    this.labels = labels;
    this.uncertainLabel = uncertainLabel;
    this.current = null;
    this.said = null; // an expression index, or null for uncertain
    this.seenMs = 0;
    this.challenger = null;
    this.challengerSince = 0;
    this.differsSince = null;
  }

  /** The headline after this frame: {track_id, label, confidence, uncertain} or null.
   * frame: {timestamp_ms, cut, faces}. */
  update({ timestamp_ms: now = 0, cut = false, faces }) {
    const people = new Map();
    for (const f of faces) if (f.track_id !== null && f.track_id !== undefined) people.set(f.track_id, f);
    if (cut) {
      this.current = null;
      this.challenger = null;
    }
    const current = this.current;
    const largestOf = () => [...people.values()].reduce((a, b) => (area(b.box) > area(a.box) ? b : a));
    if (current !== null && people.has(current.track_id)) {
      this.seenMs = now;
      const face = people.get(current.track_id);
      const largest = largestOf();
      if (largest.track_id !== current.track_id && area(largest.box) > this.settings.switch_ratio * area(face.box)) {
        if (this.challenger !== largest.track_id) {
          this.challenger = largest.track_id;
          this.challengerSince = now;
        } else if (now - this.challengerSince >= this.settings.switch_ms) {
          this.challenger = null;
          return this.follow(largest);
        }
      } else {
        this.challenger = null;
      }
      return this.read(face, now);
    }
    if (current !== null && now - this.seenMs <= this.settings.hold_ms && people.size === 0) return current;
    if (people.size === 0) {
      this.current = null;
      return null;
    }
    this.seenMs = now;
    this.challenger = null;
    return this.follow(largestOf());
  }

  follow(face) {
    this.said = confidence(face) < this.settings.uncertain_below ? null : face.shown;
    this.differsSince = null;
    this.current = this.headline(face);
    return this.current;
  }

  read(face, now) {
    const s = this.settings;
    const p = confidence(face);
    let reading;
    if (this.said === null) reading = p >= s.uncertain_below + s.uncertain_margin ? face.shown : null;
    else reading = p < s.uncertain_below ? null : face.shown;
    if (reading === this.said) this.differsSince = null;
    else if (this.differsSince === null) this.differsSince = now;
    if (this.differsSince !== null && now - this.differsSince >= s.dwell_ms) {
      this.said = reading;
      this.differsSince = null;
    }
    this.current = this.headline(face);
    return this.current;
  }

  headline(face) {
    if (this.said === null) {
      return { track_id: face.track_id, label: this.uncertainLabel, confidence: round4(confidence(face)), uncertain: true };
    }
    const p = face.shown_probabilities[this.said];
    return { track_id: face.track_id, label: this.labels[this.said], confidence: round4(p), uncertain: false };
  }
}

const round4 = (x) => Math.round(x * 10000) / 10000;
