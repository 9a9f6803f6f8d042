// moodlens live page, personal profile panel: choose or create a profile, calibrate a neutral
// baseline (3 s countdown), correct the headline in one click, undo, reset. The server keeps the
// profile as 7 numbers per sample (no picture); this file only talks to /api/v1/profiles and
// through the live page's WebSocket (live.js calls the hooks of the panel it creates).
//
// In browser mode the page's own engine reads the face: the panel fetches the profile's fit for
// the engine's model (GET /api/v1/profiles/NAME/fit?reader=browser) and hands its numbers to the
// engine, keeps the main face's model readings of the last seconds, and calibrates and corrects
// by sending those readings (POST /api/v1/profiles/NAME/samples), never a picture.

import { $ } from "./dom.js";

// ``health``: the server's /api/v1/health answer (its ``profile``: serve --profile NAME).
export function profilePanel(health) {
  const LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  const CALIBRATE_SECONDS = 3;
  const panel = {
    enabled: false, running: false, send: null, mainLabel: null, lastSample: null, timer: null,
    // The profile the stream was started with (the select may not change while it runs).
    active: null,
    // Browser mode: the engine reading through the profile, and its main face's model readings
    // ([capture time, 7 probabilities]) of the last seconds; a calibration in progress.
    engine: null, readings: [], calibration: null,
    // Whose readings the panel describes the fit for: the server's model, or the page's engine
    // in browser mode (they differ when the server runs another model than the shipped default).
    reader: "server",
  };
  const KEEP_MS = 3000;
  const CORRECT_MS = 1000;
  // POST /samples takes at most 300 readings: a calibration keeps every reading up to that.
  const MAX_READINGS = 300;

  function say(text) { $("profile-state").textContent = text; }

  function describe(profile) {
    if (!profile) return "No profile: every face is read by the model alone.";
    const fitted = profile.fitted || {};
    const baseline = fitted.baseline_set ? "baseline set" : "no baseline yet (calibrate)";
    const changed = profile.last_changed ? `, last changed ${new Date(profile.last_changed).toLocaleString()}` : "";
    return `Profile ${profile.name}: ${baseline}, ${fitted.corrections || 0} correction(s)${changed}.`;
  }

  async function api(path, options = {}) {
    const response = await fetch(`/api/v1/profiles${path}`, {
      headers: { "content-type": "application/json" }, ...options,
    });
    if (response.status === 204) return null;
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || body.detail?.[0]?.msg || `HTTP ${response.status}`);
    return body;
  }

  async function refreshList(select) {
    const profiles = await api("");
    const box = $("profile");
    const keep = select ?? box.value;
    box.replaceChildren(new Option("none: the model alone", ""));
    for (const p of profiles) box.add(new Option(p.name, p.name));
    box.value = profiles.some((p) => p.name === keep) ? keep : "";
    await showSelected();
  }

  /** A profile answer, its fit replaced by the one for the page's engine in browser mode. */
  async function forReader(profile) {
    if (panel.reader === "browser" && profile) {
      profile.fitted = (await api(`/${encodeURIComponent(profile.name)}/fit?reader=browser`)).fitted;
    }
    return profile;
  }

  async function showSelected() {
    const name = $("profile").value;
    $("profile-reset").disabled = !name;
    if (!name) { say(describe(null)); return; }
    say(describe(await forReader(await api(`/${encodeURIComponent(name)}`))));
  }

  function updateButtons() {
    $("profile").disabled = panel.running;
    $("calibrate").disabled = !(panel.running && panel.active);
    setCalibrating(false);
  }

  // While a calibration runs, Calibrate refuses clicks but keeps the focus a keyboard user gave it
  // (a disabled button drops focus to the page's body).
  function setCalibrating(on) {
    panel.calibrating = on;
    if (on) $("calibrate").setAttribute("aria-disabled", "true");
    else $("calibrate").removeAttribute("aria-disabled");
  }

  async function init() {
    // ?profile=NAME, or moodlens serve --profile NAME: the page starts with that profile.
    const preset = new URLSearchParams(location.search).get("profile") || health.profile || "";
    try {
      await refreshList(preset || "");
      panel.enabled = true;
    } catch (err) {
      // 404 when the server keeps no database: the panel says how to turn profiles on.
      $("profile-off").classList.remove("hidden");
      $("profile-controls").classList.add("hidden");
      $("profile-new-box").classList.add("hidden");
      say("");
    }
    updateButtons();
  }

  $("profile").addEventListener("change", () => showSelected().catch((e) => say(`profile: ${e.message}`)));
  $("profile-consent").addEventListener("change", (e) => { $("profile-create").disabled = !e.target.checked; });
  $("profile-create").addEventListener("click", async () => {
    const name = $("profile-new").value.trim();
    try {
      await api("", { method: "POST", body: JSON.stringify({ name, consent: $("profile-consent").checked }) });
      $("profile-new").value = "";
      $("profile-consent").checked = false;
      await refreshList(name);
      $("profile").focus();  // the new profile, selected: Create is disabled again just below
      $("profile-create").disabled = true;
    } catch (err) { say(`could not create the profile: ${err.message}`); }
  });
  $("profile-reset").addEventListener("click", async () => {
    const name = $("profile").value;
    if (!name || !confirm(`Forget the baseline and every correction of ${name}?`)) return;
    try {
      const profile = await forReader(await api(`/${encodeURIComponent(name)}/reset`, { method: "POST" }));
      panel.lastSample = null;
      $("correct-undo").disabled = true;
      $("countdown").classList.add("hidden");  // "Baseline saved" is not true any more
      if (panel.running && panel.send) panel.send({ type: "reload_profile" });
      say(describe(profile));
    } catch (err) { say(`could not reset: ${err.message}`); }
  });
  $("calibrate").addEventListener("click", () => {
    if (!panel.send || panel.calibrating) return;
    panel.send({ type: "calibrate", seconds: CALIBRATE_SECONDS });
    let left = CALIBRATE_SECONDS;
    const box = $("countdown");
    box.classList.remove("hidden");
    box.textContent = `Look at the camera with a neutral face: ${left}`;
    setCalibrating(true);
    clearInterval(panel.timer);
    panel.timer = setInterval(() => {
      left -= 1;
      box.textContent = left > 0 ? `Look at the camera with a neutral face: ${left}` : "Saving the baseline…";
      if (left <= 0) clearInterval(panel.timer);
    }, 1000);
  });
  $("correct-undo").addEventListener("click", async () => {
    const name = panel.active;
    if (!name || !panel.lastSample) return;
    try {
      const profile = await forReader(await api(`/${encodeURIComponent(name)}/samples/${panel.lastSample}`, { method: "DELETE" }));
      panel.lastSample = null;
      $("correct-undo").disabled = true;
      if (panel.running && panel.send) panel.send({ type: "reload_profile" });
      say(describe(profile) + " The last correction is undone.");
    } catch (err) { say(`could not undo: ${err.message}`); }
  });

  function correctionButtons(label) {
    const box = $("correct-buttons");
    if (panel.mainLabel === label) return;
    panel.mainLabel = label;
    $("correct-label").textContent = label;
    // One button per label, made once: a label change only hides the one now shown, so the button
    // a keyboard user is on stays where it is (rebuilding them threw focus to the page's body).
    if (!box.children.length) {
      for (const other of LABELS) {
        const button = document.createElement("button");
        button.textContent = other;
        button.dataset.label = other;
        button.addEventListener("click", () => panel.send && panel.send({ type: "correct", label: other }));
        box.appendChild(button);
      }
    }
    const focused = document.activeElement;
    for (const button of box.children) button.classList.toggle("hidden", button.dataset.label === label);
    if (focused && focused.parentElement === box && focused.classList.contains("hidden")) {
      const next = [...box.children].find((b) => !b.classList.contains("hidden"));
      if (next) next.focus();
    }
  }

  // Browser mode: what the stream does with these messages in server mode, done in the page.
  async function fitEngine(name) {
    const fit = await api(`/${encodeURIComponent(name)}/fit?reader=browser`);
    if (panel.engine) panel.engine.setProfile(fit.numbers);
    return fit;
  }

  // The profile's id as this session started with it: its samples go to that profile only (one
  // deleted and made again under the same name is someone else's: the server answers 404).
  function bound() { return panel.profileId ? { profile_id: panel.profileId } : {}; }

  async function addSample(kind, readings, said = {}) {
    const name = panel.active;
    const round = (v) => Math.round(v * 1e6) / 1e6;
    const body = { kind, readings: readings.map((r) => r.map(round)), reader: "browser", ...said, ...bound() };
    const added = await api(`/${encodeURIComponent(name)}/samples`, { method: "POST", body: JSON.stringify(body) });
    if (panel.engine && panel.active === name) panel.engine.setProfile(added.fit.numbers);
    const event = kind === "neutral" ? "calibrated" : "corrected";
    hooks.message({ type: "profile", event, sample_id: added.sample_id, profile: added.profile });
  }

  function failed(code, message) { hooks.message({ type: "error", code, message }); }

  function localSend(message) {
    if (message.type === "calibrate") {
      panel.calibration = { seconds: message.seconds, start: null, readings: [] };
    } else if (message.type === "correct") {
      const latest = panel.readings.length ? panel.readings[panel.readings.length - 1][0] : null;
      const recent = panel.readings.filter(([t]) => latest !== null && t >= latest - CORRECT_MS).map(([, p]) => p);
      if (!recent.length) { failed("no_face", "no reading of the main face in the last second to correct"); return; }
      addSample("correction", recent, { label: message.label }).catch((e) => failed("profile_failed", e.message));
    } else if (message.type === "reload_profile") {
      if (panel.active) fitEngine(panel.active).catch((e) => failed("profile_failed", e.message));
    }
  }

  function collect(faces, t) {
    // The engine's own reading of the main face at full precision (the result rounds to 4 digits,
    // and the fit works on log-probabilities, where 1.4e-4 and 1e-4 are far apart).
    const own = panel.engine && panel.engine.mainReading && panel.engine.mainReading.t === t ? panel.engine.mainReading : null;
    const main = own && faces.some((f) => f.profile) ? own.probabilities : null;
    if (main) panel.readings.push([t, main]);
    while (panel.readings.length && panel.readings[0][0] < t - KEEP_MS) panel.readings.shift();
    const calibration = panel.calibration;
    if (!calibration) return;
    if (calibration.start === null) calibration.start = t;
    const end = calibration.start + 1000 * calibration.seconds;
    if (main && t <= end && calibration.readings.length < MAX_READINGS) calibration.readings.push(panel.readings[panel.readings.length - 1][1]);
    if (t < end) return;
    panel.calibration = null;
    if (!calibration.readings.length) {
      failed("calibration_failed", "no face was seen while calibrating: look at the camera and try again");
      return;
    }
    addSample("neutral", calibration.readings).catch((e) => failed("calibration_failed", e.message));
  }

  const hooks = {
    // The live page's mode changed: describe the fit for the model that will read the face.
    reader(reader) {
      if (panel.reader === reader) return;
      panel.reader = reader;
      if (panel.enabled && !panel.running) showSelected().catch((e) => say(`profile: ${e.message}`));
    },
    // The profile to start the stream with (null: none).
    chosen() { return panel.enabled && $("profile").value ? $("profile").value : null; },
    started(profile, send) {
      panel.running = true;
      panel.active = profile;
      panel.send = send;
      updateButtons();
    },
    // Browser mode, before the engine starts: its profile's fit (false, and said, when it failed).
    async prepareLocal(name, engine) {
      panel.engine = engine;
      try {
        panel.profileId = (await fitEngine(name)).profile_id;
        return true;
      } catch (err) {
        engine.setProfile(null);
        panel.engine = null;
        say(`profile ${name} could not be read (${err.message}): the model alone reads the faces.`);
        return false;
      }
    },
    // Browser mode: the engine in this page reads through the profile (prepareLocal first).
    startedLocal(profile) {
      // A reconnection (recording) starts the same session again: a calibration in progress runs
      // on in the page and goes on.
      const again = panel.running && panel.active === profile;
      if (!again) {
        panel.readings = [];
        panel.calibration = null;
      }
      hooks.started(profile, localSend);
      if (again && panel.calibration) setCalibrating(true);
    },
    stopped() {
      if (panel.engine) panel.engine.setProfile(null);
      panel.engine = null;
      panel.readings = [];
      panel.calibration = null;
      panel.running = false;
      panel.active = null;
      panel.profileId = null;
      panel.send = null;
      panel.mainLabel = null;
      clearInterval(panel.timer);
      $("countdown").classList.add("hidden");
      $("correct-row").classList.add("hidden");
      updateButtons();
    },
    // Every result: the face read through the profile gets the one-click correction (in browser
    // mode its model reading is kept for calibrations and corrections; `t` the capture time).
    result(faces, t) {
      if (panel.engine && panel.running) collect(faces, t);
      const main = faces.find((f) => f.profile);
      if (!main || !panel.active) {
        // A frame without the face (a missed detection) does not take the row from under a
        // keyboard user who is on it: hiding it would drop their focus to the page's body.
        const row = $("correct-row");
        if (!panel.active || !row.contains(document.activeElement)) row.classList.add("hidden");
        return;
      }
      correctionButtons(main.stable_label || main.label);
      $("correct-row").classList.remove("hidden");
    },
    message(msg) {
      if (msg.type === "profile") {
        if (msg.event === "reloaded") return true;
        if (msg.event === "calibrated") {
          clearInterval(panel.timer);
          $("countdown").textContent = "Baseline saved: your resting face now reads neutral.";
          setTimeout(() => $("countdown").classList.add("hidden"), 2500);
          updateButtons();
        } else {
          panel.lastSample = msg.sample_id;
          $("correct-undo").disabled = false;
        }
        say(describe(msg.profile));
        return true;
      }
      if (msg.type === "error" && ["calibration_failed", "no_face", "no_profile", "profile_failed", "unknown_profile", "no_profiles"].includes(msg.code)) {
        clearInterval(panel.timer);
        $("countdown").classList.add("hidden");
        updateButtons();
        say(`profile: ${msg.message}`);
        return true;
      }
      return false;
    },
  };
  init();
  return hooks;
}
