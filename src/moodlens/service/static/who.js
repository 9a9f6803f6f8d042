// Who is who: merge the tracks of one person, make a track its own person again, name a person
// (a nickname only with their consent), hide a track that is not a person; undo a merge.
// ``session()`` gives the session on show ({info, people, everyone}); ``reload()`` draws it again.

import { api } from "./api.js";
import { $, el, fill } from "./dom.js";
import { counts, tracksText } from "./format.js";

export function whoIsWho({ session, reload }) {
  let undo = null;

  const everyTrack = (person) => [...person.track_ids, ...person.hidden_track_ids].sort((a, b) => a - b);
  const personOfTrack = (track) => session().everyone.find((p) => everyTrack(p).includes(track));
  const say = (text) => { $("people-status").textContent = text; };
  const countLine = () => { const s = session(); return counts(s.people.length, s.info.tracks, s.info.hidden_tracks); };

  function draw() {
    const { people, everyone } = session();
    const list = $("merge-choices");
    const picked = new Set([...list.querySelectorAll("input:checked")].map((box) => Number(box.value)));
    list.textContent = "";
    for (const p of people) {
      const id = `pick-${p.number}`;
      const item = el("li");
      const box = el("input", { type: "checkbox", id, value: String(p.number) });
      box.checked = picked.has(p.number);
      item.append(box, el("label", { for: id }, ` ${p.label} · ${tracksText(p)}`));
      list.appendChild(item);
    }
    const tracks = [];
    for (const p of everyone) {
      for (const t of everyTrack(p)) tracks.push([t, `#${t} · ${p.label}${p.hidden_track_ids.includes(t) ? " (hidden)" : ""}`]);
    }
    tracks.sort((a, b) => a[0] - b[0]);
    fill($("track-choice"), tracks, $("track-choice").value);
    fill($("rename-person"), people.map((p) => [p.number, `${p.label} · ${tracksText(p)}`]), $("rename-person").value);
    trackChosen();
  }

  function trackChosen() {
    const track = Number($("track-choice").value);
    const person = personOfTrack(track);
    const hidden = person ? person.hidden_track_ids.includes(track) : false;
    $("hide").textContent = hidden ? "Show it again" : "Hide it";
    $("hide").dataset.hidden = hidden ? "yes" : "no";
  }

  // A change of who is who, then the whole session drawn again (counts, lanes, tables, choices).
  async function change(path, options, done) {
    const id = session().info.id;
    let person;
    try {
      person = await api(`/sessions/${id}${path}`, options);
    } catch (err) {
      say(err.message);
      return null;
    }
    await reload();
    say(`${done(person)} ${countLine()}.`);
    return person;
  }

  async function merge() {
    const numbers = [...$("merge-choices").querySelectorAll("input:checked")].map((box) => Number(box.value));
    if (numbers.length < 2) { say("Select two or more people to merge."); return; }
    const before = session().everyone.filter((p) => numbers.includes(p.number)).map((p) => everyTrack(p));
    const merged = await change("/people/merge", { json: { track_ids: numbers } }, (p) => `Merged into ${p.label} (${tracksText(p)}):`);
    if (!merged) return;
    for (const box of $("merge-choices").querySelectorAll("input")) box.checked = false;
    undo = { groups: before, number: merged.number };
    $("undo-merge").classList.remove("hidden");
  }

  // Undo a merge: every track that came from another person is split out, then those people are
  // merged again (their nicknames are not restored: that would need their consent again).
  async function undoMerge() {
    if (!undo) return;
    const id = session().info.id;
    try {
      for (const group of undo.groups.filter((g) => !g.includes(undo.number))) {
        for (const track of group) await api(`/sessions/${id}/tracks/${track}/split`, { method: "POST" });
        if (group.length > 1) await api(`/sessions/${id}/people/merge`, { json: { track_ids: group } });
      }
    } catch (err) {
      say(err.message);
      return;
    }
    undo = null;
    $("undo-merge").classList.add("hidden");
    $("merge").focus();
    await reload();
    say(`Merge undone: ${countLine()}.`);
  }

  async function split() {
    const track = Number($("track-choice").value);
    const person = personOfTrack(track);
    if (person && everyTrack(person).length === 1) { say(`#${track} is its own person already.`); return; }
    await change(`/tracks/${track}/split`, { method: "POST" }, (p) => `#${track} is its own person again (${p.label}):`);
  }

  async function hide() {
    const track = Number($("track-choice").value);
    const hidden = $("hide").dataset.hidden === "yes";
    await change(`/tracks/${track}/${hidden ? "unhide" : "hide"}`, { method: "POST" },
      () => (hidden ? `#${track} is shown again:` : `#${track} is hidden:`));
  }

  async function rename(event) {
    event.preventDefault();
    const number = Number($("rename-person").value);
    const nickname = $("nickname").value.trim();
    if (!nickname) { say("Type a nickname, or remove the one the person has."); $("nickname").focus(); return; }
    if (!$("nickname-consent").checked) {
      say("Tick the box to confirm they agree to the nickname being stored.");
      $("nickname-consent").focus();
      return;
    }
    const done = await change(`/people/${number}/nickname`, { method: "PUT", json: { nickname, consent: true } },
      (p) => `Person ${p.number} is now ${p.label}:`);
    if (done) { $("nickname").value = ""; $("nickname-consent").checked = false; }
  }

  async function clearNickname() {
    const number = Number($("rename-person").value);
    await change(`/people/${number}/nickname`, { method: "PUT", json: { nickname: null } },
      (p) => `${p.label} has no nickname now:`);
  }

  $("merge").addEventListener("click", merge);
  $("undo-merge").addEventListener("click", undoMerge);
  $("split").addEventListener("click", split);
  $("hide").addEventListener("click", hide);
  $("track-choice").addEventListener("change", trackChosen);
  $("rename-form").addEventListener("submit", rename);
  $("clear-nickname").addEventListener("click", clearNickname);
  $("rename-person").addEventListener("change", () => {
    const person = session().people.find((p) => p.number === Number($("rename-person").value));
    $("nickname").value = (person && person.nickname) || "";
  });

  return {
    draw,
    // A new session opened: nothing to undo, nothing said yet.
    reset() { undo = null; $("undo-merge").classList.add("hidden"); say(""); },
  };
}
