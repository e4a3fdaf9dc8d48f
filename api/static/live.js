// Anbu dashboard: the live notice of new 긴급 cases (issue 17). A server-sent event stream
// (/api/v1/live/urgent, read with fetch so the bearer token goes in a header, never the URL)
// brings each case that became 긴급; on every screen a line names it with a link, a short sound
// plays, and the tab's title counts the notices not yet seen ("(2) 안부 …"). Each user switches
// the notice and the sound for themselves; the choice is kept on their account.
(() => {
  "use strict";

  const { API, TOKEN_KEY, $, t, el, link, button, api, sendJson, localTime, explanationText } = window.Anbu;
  const RETRY_MS = 5000;
  const BASE_TITLE = document.title;

  let me = null;
  let controller = null; // the open stream's; aborting it ends the stream
  let cursor = null; // the last event seen: a reconnect asks for what came after it
  let retry = null;
  let audio = null;
  let chimes = 0;
  const shown = new Map(); // case id -> its notice line

  // ------------------------------------------------------------------ the stream

  function start(user) {
    me = user;
    $("pref-urgent-notice").checked = me.urgent_notice;
    $("pref-urgent-sound").checked = me.urgent_sound;
    $("pref-urgent-sound").disabled = !me.urgent_notice;
    $("live-prefs").hidden = false;
    if (me.urgent_notice && !controller) connect();
  }

  function stop() {
    me = null;
    cursor = null;
    if (retry) clearTimeout(retry);
    retry = null;
    if (controller) controller.abort();
    controller = null;
    $("live-prefs").hidden = true;
    dismissAll();
  }

  async function connect() {
    retry = null;
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!me || !token) return;
    const mine = new AbortController();
    controller = mine;
    const query = cursor === null ? "" : "?after=" + encodeURIComponent(cursor);
    try {
      const response = await fetch(API + "/live/urgent" + query, {
        headers: { Authorization: "Bearer " + token, Accept: "text/event-stream" },
        signal: mine.signal,
      });
      if (response.status === 401) {
        api("/auth/me").catch(() => {}); // the shared client signs the user out everywhere
        return;
      }
      if (!response.ok || !response.body) throw new Error(String(response.status));
      await read(response.body.getReader());
    } catch (_) {
      if (mine.signal.aborted) return; // stopped on purpose
    } finally {
      if (controller === mine) controller = null;
    }
    // The server ends a stream every few minutes (a fresh token check); come back for the rest.
    if (me && me.urgent_notice && !mine.signal.aborted) retry = setTimeout(connect, RETRY_MS);
  }

  async function read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        handle(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  function handle(block) {
    let name = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) name = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    if (!data) return; // a keep-alive comment
    const body = JSON.parse(data);
    if (name === "ready" || name === "cursor") cursor = body.cursor;
    else if (name === "urgent") {
      cursor = body.event_id;
      notify(body);
    } else if (name === "signed_out") api("/auth/me").catch(() => {});
  }

  // ------------------------------------------------------------------ the notice

  function notify(notice) {
    if (shown.has(notice.case_id)) return;
    const li = el("li", null, "live-notice");
    const open = link("#/cases/" + notice.case_id, t("live.open"));
    open.addEventListener("click", () => dismiss(notice.case_id));
    li.append(
      el("span", t("severity.critical"), "badge sev-critical"),
      " ",
      el("strong", notice.household_code),
      " · " + t("kind." + notice.kind, notice.kind) + " · " + localTime(notice.at, notice.household_timezone) + " — ",
      el("span", explanationText(notice)),
      " ",
      open,
      " ",
      button(t("live.dismiss"), "button-quiet", () => dismiss(notice.case_id)),
    );
    shown.set(notice.case_id, li);
    $("live-list").prepend(li);
    update();
    if (me && me.urgent_sound) chime();
    window.dispatchEvent(new CustomEvent("anbu:urgent", { detail: notice })); // the queue refreshes
  }

  function dismiss(caseId) {
    const li = shown.get(caseId);
    if (li) li.remove();
    shown.delete(caseId);
    update();
  }

  function dismissAll() {
    for (const li of shown.values()) li.remove();
    shown.clear();
    update();
  }

  function update() {
    const n = shown.size;
    $("live-notices").hidden = n === 0;
    $("live-count").textContent = t("live.count").replace("%n%", String(n));
    document.title = n ? "(" + n + ") " + BASE_TITLE : BASE_TITLE;
  }

  // Two short tones made on the spot (no audio file to fetch). A browser plays sound only after
  // the user has interacted with the page; signing in is such an interaction.
  function chime() {
    chimes += 1;
    $("live-notices").dataset.chimes = String(chimes);
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
      [880, 660].forEach((hz, i) => {
        const at = audio.currentTime + i * 0.25;
        const tone = audio.createOscillator();
        const gain = audio.createGain();
        tone.frequency.value = hz;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.3, at + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.22);
        tone.connect(gain).connect(audio.destination);
        tone.start(at);
        tone.stop(at + 0.24);
      });
    } catch (_) {
      // no sound on this device: the line and the title count still say it
    }
  }

  // ------------------------------------------------------------------ the user's choice

  async function savePreference(field, value) {
    try {
      me = Object.assign(me, await sendJson("PATCH", "/auth/me/preferences", { [field]: value }));
    } catch (_) {
      $("pref-urgent-notice").checked = me.urgent_notice; // unchanged on the server: show it so
      $("pref-urgent-sound").checked = me.urgent_sound;
      return;
    }
    $("pref-urgent-sound").disabled = !me.urgent_notice;
    if (!me.urgent_notice) {
      if (controller) controller.abort();
      controller = null;
      if (retry) clearTimeout(retry);
      retry = null;
      dismissAll();
    } else if (!controller && !retry) connect();
  }

  $("pref-urgent-notice").addEventListener("change", (event) => me && savePreference("urgent_notice", event.target.checked));
  $("pref-urgent-sound").addEventListener("change", (event) => me && savePreference("urgent_sound", event.target.checked));
  $("live-dismiss-all").addEventListener("click", dismissAll);

  window.AnbuLive = { start, stop };
})();
