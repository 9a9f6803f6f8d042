// The camera: ask for it, and when the browser says no, say why in words and how to fix it in
// this browser (the DOMException names of getUserMedia: NotAllowedError, NotFoundError...).

export class CameraProblem extends Error {
  constructor(kind, title, steps) { super(title); this.kind = kind; this.title = title; this.steps = steps; }
}

export function browserName(agent = navigator.userAgent) {
  if (/Firefox\//.test(agent)) return "firefox";
  if (/Edg\//.test(agent)) return "edge";
  if (/Chrom(e|ium)\//.test(agent)) return "chrome";
  if (/Safari\//.test(agent)) return "safari";
  return "other";
}

const ALLOW = {
  chrome: "Click the camera icon (or the site settings icon) at the left of the address bar, choose Allow for the camera, then press Start camera again.",
  edge: "Click the lock icon at the left of the address bar, set Camera to Allow, then press Start camera again.",
  firefox: "Click the crossed-out camera icon in the address bar, remove the block (Blocked temporarily or Blocked), then press Start camera again.",
  safari: "In the menu Safari > Settings for this website, set Camera to Allow, then press Start camera again.",
  other: "Allow the camera for this site in the browser's site settings, then press Start camera again.",
};

const SYSTEM = "If the browser allows it and it still fails, the operating system may block it: on macOS, System Settings > Privacy & Security > Camera; on Windows, Settings > Privacy & security > Camera.";

// The problem, in words, for an error thrown by getUserMedia (or its absence).
export function explain(err, agent) {
  const name = (err && err.name) || "";
  const browser = browserName(agent);
  if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") {
    return new CameraProblem("denied", "The browser blocked the camera for this page.", [ALLOW[browser], SYSTEM]);
  }
  if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
    return new CameraProblem("missing", "No camera was found.", [
      "Plug a camera in (or switch it on, or open the laptop's lid), then press Start camera again.",
      "A camera the system has turned off does not show: check that it is enabled in the system settings.",
    ]);
  }
  if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
    return new CameraProblem("busy", "The camera is in use by another application, or the system refused it.", [
      "Close the other application or browser tab that uses the camera (a video call, another recording), then press Start camera again.",
      SYSTEM,
    ]);
  }
  if (name === "insecure") {
    return new CameraProblem("insecure", "This browser offers the camera only to secure pages.", [
      "Open the page at http://127.0.0.1 or http://localhost on the computer that runs moodlens, or serve it over HTTPS.",
    ]);
  }
  return new CameraProblem("other", `The camera could not start (${name || "unknown error"}${err && err.message ? `: ${err.message}` : ""}).`, [
    "Press Start camera again; if it keeps failing, reload the page or restart the browser.",
  ]);
}

export async function openCamera() {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) throw explain({ name: "insecure" });
  try {
    return await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (err) {
    throw explain(err);
  }
}
