// A person's profile applied in the page (browser mode): moodlens.personal.Profile.apply on the
// numbers the server sends (GET /api/v1/profiles/NAME/fit?reader=browser, Profile.wire): the
// baseline's shift of each expression's log-probability, then the pull of the person's
// corrections (prototypes) and "it was not X" samples (negatives). Label-space numbers only; the
// math is personal.py's, line for line (tests/js/personal.test.mjs holds it to Python's outputs).

const logOf = (p, floor) => p.map((v) => Math.log(Math.min(1, Math.max(floor, v))));

function centred(row) {
  const mean = row.reduce((a, b) => a + b, 0) / row.length;
  return row.map((v) => v - mean);
}

export class PersonalProfile {
  /** `numbers`: a fit's `numbers` (name, floor, width, max_bonus, unseen, shift, prototypes,
   * prototype_labels, negatives, negative_labels). */
  constructor(numbers) {
    for (const key of ["shift", "prototypes", "prototype_labels", "negatives", "negative_labels"]) {
      if (!Array.isArray(numbers[key])) throw new Error(`a profile's numbers need ${key}`);
    }
    if (numbers.shift.length !== 7) throw new Error("a profile's shift has 7 numbers");
    this.name = numbers.name;
    this.floor = numbers.floor;
    this.width = numbers.width;
    this.maxBonus = numbers.max_bonus;
    this.unseen = numbers.unseen;
    this.shift = numbers.shift;
    this.prototypes = numbers.prototypes.map(centred);
    this.prototypeLabels = numbers.prototype_labels;
    this.negatives = numbers.negatives.map(centred);
    this.negativeLabels = numbers.negative_labels;
  }

  /** Aitchison's distance (between centred log-probabilities) from `a` (centred) to each of `refs`,
   * divided by 2 width^2. */
  distances(a, refs) {
    const scale = 2 * this.width ** 2;
    return refs.map((b) => a.reduce((sum, v, i) => sum + (v - b[i]) ** 2, 0) / scale);
  }

  /** The personal probabilities of one reading (7 numbers). */
  apply(probabilities) {
    const logp = logOf(Array.from(probabilities), this.floor);
    const z = logp.map((v, i) => v + this.shift[i]);
    if (this.prototypeLabels.length || this.negativeLabels.length) {
      const a = centred(logp);
      if (this.prototypeLabels.length) this.prototypeTerms(a).forEach((t, i) => { z[i] += t; });
      if (this.negativeLabels.length) this.negativeTerms(a).forEach((t, i) => { z[i] += t; });
    }
    const top = Math.max(...z);
    const e = z.map((v) => Math.exp(v - top));
    const total = e.reduce((x, y) => x + y, 0);
    return e.map((v) => v / total);
  }

  prototypeTerms(a) {
    const d2 = this.distances(a, this.prototypes);
    const nearest = new Array(7).fill(Infinity);
    this.prototypeLabels.forEach((k, j) => { nearest[k] = Math.min(nearest[k], d2[j]); });
    const seen = nearest.map((v) => v !== Infinity);
    const closest = Math.min(...nearest.filter((_, k) => seen[k]));
    // An expression nobody corrected towards loses as much as the face is close to a correction.
    const unseen = this.maxBonus * Math.exp(-closest / this.unseen);
    return nearest.map((v, k) => (seen[k] ? -Math.min(this.maxBonus, Math.max(0, v - closest)) : -unseen));
  }

  negativeTerms(a) {
    const near = this.distances(a, this.negatives).map((d) => Math.exp(-d));
    const terms = new Array(7).fill(0);
    const closest = new Array(7).fill(-Infinity);
    this.negativeLabels.forEach((k, j) => { closest[k] = Math.max(closest[k], near[j]); });
    closest.forEach((v, k) => { if (v !== -Infinity) terms[k] = -this.maxBonus * v; });
    return terms;
  }
}
