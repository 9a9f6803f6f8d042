// Shot-cut detection, as pipeline/cuts.py does it: PySceneDetect's content score (the mean
// absolute change of hue, saturation and value between consecutive frames, hue as an angle and
// weighted by saturation) on a 96-pixel-wide thumbnail; a cut is a score of `threshold` or more,
// at least `min_gap_ms` after the previous one. Settings: shared_constants.json's "cuts".

import { hsv } from "./look.js";
import { resizeArea, resizeLinear, roundEven } from "./resize.js";

/** The HSV thumbnail of a frame (cuts.thumbnail_hsv): Int16Array of h*w*3, and its size. */
export function thumbnailHsv(frame, thumbWidth) {
  const { width, height } = frame;
  const size = [thumbWidth, Math.max(1, roundEven((height * thumbWidth) / Math.max(width, 1)))];
  let image = frame;
  if (width > 4 * thumbWidth) {
    image = resizeLinear(frame, 4 * thumbWidth, Math.max(1, roundEven((height * 4 * thumbWidth) / width)));
  }
  const small = resizeArea(image, size[0], size[1]);
  const n = small.width * small.height;
  const out = new Int16Array(n * 3);
  for (let i = 0; i < n; i++) {
    const [h, s, v] = hsv(small.data[i * 4], small.data[i * 4 + 1], small.data[i * 4 + 2]);
    out[i * 3] = h;
    out[i * 3 + 1] = s;
    out[i * 3 + 2] = v;
  }
  return { data: out, width: small.width, height: small.height };
}

/** The content score of two thumbnails (cuts.content_change). */
export function contentChange(a, b) {
  if (a.width !== b.width || a.height !== b.height) return 255;
  const n = a.width * a.height;
  let hue = 0;
  let sat = 0;
  let val = 0;
  for (let i = 0; i < n; i++) {
    let dh = Math.abs(a.data[i * 3] - b.data[i * 3]);
    dh = Math.min(dh, 180 - dh) * (255 / 90);
    const weight = Math.min(a.data[i * 3 + 1], b.data[i * 3 + 1]) / 255;
    hue += dh * weight;
    sat += Math.abs(a.data[i * 3 + 1] - b.data[i * 3 + 1]);
    val += Math.abs(a.data[i * 3 + 2] - b.data[i * 3 + 2]);
  }
  return (hue / n + sat / n + val / n) / 3;
}

export class ShotCutDetector {
  constructor(settings) {
    this.settings = settings;
    this.previous = null;
    this.lastCutMs = -Infinity;
    this.lastScore = 0;
  }

  /** Whether a new shot starts at this frame. */
  update(frame, t) {
    const current = thumbnailHsv(frame, this.settings.thumb_width);
    const previous = this.previous;
    this.previous = current;
    if (previous === null) {
      this.lastScore = 0;
      return false;
    }
    this.lastScore = contentChange(previous, current);
    if (this.lastScore < this.settings.threshold || t - this.lastCutMs < this.settings.min_gap_ms) return false;
    this.lastCutMs = t;
    return true;
  }
}
