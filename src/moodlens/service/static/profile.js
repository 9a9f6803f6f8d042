// moodlens live page, personal profile panel: choose or create a profile, calibrate a neutral
// baseline (3 s countdown), correct the headline in one click, undo, reset. The server keeps the
// profile as 7 numbers per sample (no picture); this file only talks to /api/v1/profiles and
// through the live page's WebSocket (live.js calls the hooks of the panel it creates).

import { $ } from "./dom.js";

// ``health``: the server's /api/v1/health answer (its ``profile``: serve --profile NAME).
export function profilePanel(health) {
  const LABELS = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
  const CALIBRATE_SECONDS = 3;
  const panel = {
    enabled: false, running: false, send: null, mainLabel: null, lastSample: null, timer: null,
    // The profile the stream was started with (the select may not change while it runs).
    active: null,
  };

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

  async function showSelected() {
    const name = $("profile").value;
    $("profile-reset").disabled = !name;
    if (!name) { say(describe(null)); return; }
    say(describe(await api(`/${encodeURIComponent(name)}`)));
  }

  function updateButtons() {
    $("profile").disabled = panel.running;
    $("calibrate").disabled = !(panel.running && panel.active);
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
      $("profile-create").disabled = true;
      await refreshList(name);
    } catch (err) { say(`could not create the profile: ${err.message}`); }
  });
  $("profile-reset").addEventListener("click", async () => {
    const name = $("profile").value;
    if (!name || !confirm(`Forget the baseline and every correction of ${name}?`)) return;
    try {
      const profile = await api(`/${encodeURIComponent(name)}/reset`, { method: "POST" });
      panel.lastSample = null;
      $("correct-undo").disabled = true;
      if (panel.running && panel.send) panel.send({ type: "reload_profile" });
      say(describe(profile));
    } catch (err) { say(`could not reset: ${err.message}`); }
  });
  $("calibrate").addEventListener("click", () => {
    if (!panel.send) return;
    panel.send({ type: "calibrate", seconds: CALIBRATE_SECONDS });
    let left = CALIBRATE_SECONDS;
    const box = $("countdown");
    box.classList.remove("hidden");
    box.textContent = `Look at the camera with a neutral face: ${left}`;
    $("calibrate").disabled = true;
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
      const profile = await api(`/${encodeURIComponent(name)}/samples/${panel.lastSample}`, { method: "DELETE" });
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
    box.replaceChildren();
    for (const other of LABELS.filter((l) => l !== label)) {
      const button = document.createElement("button");
      button.textContent = other;
      button.dataset.label = other;
      button.addEventListener("click", () => panel.send && panel.send({ type: "correct", label: other }));
      box.appendChild(button);
    }
  }

  const hooks = {
    // The profile to start the stream with (null: none).
    chosen() { return panel.enabled && $("profile").value ? $("profile").value : null; },
    started(profile, send) {
      panel.running = true;
      panel.active = profile;
      panel.send = send;
      updateButtons();
    },
    stopped() {
      panel.running = false;
      panel.active = null;
      panel.send = null;
      panel.mainLabel = null;
      clearInterval(panel.timer);
      $("countdown").classList.add("hidden");
      $("correct-row").classList.add("hidden");
      updateButtons();
    },
    // Every result: the face read through the profile gets the one-click correction.
    result(faces) {
      const main = faces.find((f) => f.profile);
      if (!main || !panel.active) { $("correct-row").classList.add("hidden"); return; }
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
