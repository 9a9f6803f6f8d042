// Frames to the server: at most one in flight, at most TARGET_FPS a second; the size and JPEG
// quality follow the measured latency. Each frame sent is kept (one at a time) so that its result
// is drawn on the very picture it belongs to.

export const TARGET_FPS = 15;

export class FrameSender {
  constructor(video, { canSend, send, onSmaller }) {
    this.video = video;
    this.canSend = canSend;
    this.send = send;
    this.onSmaller = onSmaller;
    this.grab = document.createElement("canvas");
    this.timer = null;
    this.reset();
  }

  reset() {
    clearTimeout(this.timer);
    this.inFlight = false;
    this.quality = 0.8;
    this.width = 640;
    this.latency = null;
    this.lastSend = 0;
    this.results = [];
    this.sent = new Map();
    this.size = "";
  }

  get fps() { return this.results.length / 2; }

  // The next frame, as soon as the rate allows.
  next() {
    clearTimeout(this.timer);
    const wait = Math.max(0, 1000 / TARGET_FPS - (performance.now() - this.lastSend));
    this.timer = setTimeout(() => this.frame(), wait);
  }

  frame() {
    const video = this.video;
    if (this.inFlight || !this.canSend() || !video.videoWidth) return;
    const scale = Math.min(1, this.width / video.videoWidth);
    const grab = this.grab;
    grab.width = Math.round(video.videoWidth * scale);
    grab.height = Math.round(video.videoHeight * scale);
    grab.getContext("2d").drawImage(video, 0, 0, grab.width, grab.height);
    this.size = `sending ${grab.width}x${grab.height}`;
    this.inFlight = true;
    this.lastSend = performance.now();
    const t = this.lastSend;
    const kept = document.createElement("canvas");
    kept.width = grab.width;
    kept.height = grab.height;
    kept.getContext("2d").drawImage(grab, 0, 0);
    this.sent.clear();
    this.sent.set(t, kept);
    grab.toBlob(async (blob) => {
      if (!blob || !this.canSend()) { this.inFlight = false; return; }
      const jpeg = new Uint8Array(await blob.arrayBuffer());
      const message = new Uint8Array(8 + jpeg.length);
      new DataView(message.buffer).setFloat64(0, t, true);
      message.set(jpeg, 8);
      this.send(message.buffer);
    }, "image/jpeg", this.quality);
  }

  // A result: the picture it belongs to (null when it is not the frame we sent), figures updated.
  received(result) {
    this.inFlight = false;
    const now = performance.now();
    const latency = now - result.t;
    this.latency = this.latency === null ? latency : 0.8 * this.latency + 0.2 * latency;
    this.adapt();
    this.results.push(now);
    this.results = this.results.filter((t) => now - t < 2000);
    const picture = this.sent.get(result.t) || null;
    this.sent.delete(result.t);
    return picture;
  }

  // A frame the server could not take (busy, too fast, bad): the next one goes.
  refused() {
    this.sent.clear();
    this.inFlight = false;
  }

  adapt() {
    // Slow answers: send smaller, lighter frames; fast ones: go back up. The page says when it does.
    const before = this.width;
    if (this.latency > 250) { this.quality = Math.max(0.5, this.quality - 0.05); this.width = Math.max(320, this.width - 80); }
    else if (this.latency < 100) { this.quality = Math.min(0.85, this.quality + 0.02); this.width = Math.min(640, this.width + 40); }
    if (this.width < before) this.onSmaller(this.width);
  }
}
