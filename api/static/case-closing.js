// Anbu dashboard: closing a case truthfully (issue 17). In the outcome dialog no outcome is
// chosen until the caseworker picks one; then it shows what the family will be told (the exact
// text, rendered by the server as the outbox will) and, for 입원 or 부재, offers to pause
// monitoring. Under the queue: households still quiet after their case was closed.
(() => {
  "use strict";

  const { $, t, el, link, api, sendJson, localTime } = window.Anbu;
  const PAUSE_OUTCOMES = new Set(["hospital", "false_alarm_away"]);
  const PAUSE_DAYS = 14;
  const DAY_MS = 86400000;

  let closing = null; // the case the dialog is about
  let asked = 0; // the latest preview request: an older answer never overwrites a newer one
  let lastQuiet = "";

  const isoDay = (date) => date.toISOString().slice(0, 10);

  function reset(item) {
    closing = item;
    asked += 1;
    $("resolve-code").value = ""; // never a default outcome
    $("resolve-family").textContent = t("resolve.family_pick");
    $("resolve-pause").hidden = true;
    $("resolve-pause-on").checked = false;
    $("resolve-pause-until").value = isoDay(new Date(Date.now() + PAUSE_DAYS * DAY_MS));
  }

  async function outcomeChosen() {
    const code = $("resolve-code").value;
    const pausable = PAUSE_OUTCOMES.has(code);
    $("resolve-pause").hidden = !pausable;
    if (!pausable) $("resolve-pause-on").checked = false;
    if (!closing || !code) return;
    const mine = ++asked;
    const box = $("resolve-family");
    box.textContent = t("resolve.family_loading");
    let preview;
    try {
      preview = await api("/cases/" + closing.id + "/closure-preview?code=" + encodeURIComponent(code));
    } catch (error) {
      if (mine === asked && error.status !== 401) box.textContent = error.message;
      return;
    }
    if (mine !== asked) return;
    if (!preview.message) {
      box.textContent = t("resolve.family_none");
      return;
    }
    const quote = el("blockquote", preview.message, "family-message");
    quote.lang = preview.language || "";
    box.replaceChildren(el("strong", t("resolve.family_told").replace("%n%", String(preview.family_told))), quote);
  }

  // After the case was resolved: pause monitoring when asked to. "" or the problem, in words.
  async function afterResolve(householdId) {
    const day = $("resolve-pause-until").value;
    if ($("resolve-pause").hidden || !$("resolve-pause-on").checked || !day) return "";
    const until = new Date(day + "T23:59:00"); // the end of that day, as this browser keeps time
    try {
      await sendJson("POST", "/households/" + householdId + "/pause", { until: until.toISOString() });
    } catch (error) {
      return error.status === 401 ? "" : t("resolve.pause_failed") + ": " + error.message;
    }
    return "";
  }

  async function refreshQuiet() {
    let page;
    try {
      page = await api("/quiet-after-closing");
    } catch (_) {
      return; // the queue's own error line says when the server cannot be reached
    }
    const snapshot = JSON.stringify(page.items);
    if (snapshot === lastQuiet) return;
    lastQuiet = snapshot;
    const items = page.items.map((q) => {
      const tz = q.household_timezone;
      const li = el("li", null, "quiet-item");
      li.append(
        el("span", t("quiet.badge"), "badge quiet-badge"),
        " ",
        link("#/households/" + q.household_id, q.household_code),
        " — " + t("quiet.last_sign") + ": " + localTime(q.last_sign_at, tz),
      );
      if (q.case_id) {
        const outcome = q.resolution_code ? t("resolution." + q.resolution_code) : t("status.cleared");
        li.append(
          " · ",
          link("#/cases/" + q.case_id, t("quiet.closed_case").replace("%id%", String(q.case_id))),
          " " + outcome + " (" + localTime(q.closed_at, tz) + ")",
        );
      }
      return li;
    });
    $("quiet-after-list").replaceChildren(...items);
    $("quiet-after").hidden = items.length === 0;
  }

  $("resolve-code").addEventListener("change", outcomeChosen);
  window.AnbuClosing = { reset, afterResolve, refreshQuiet };
})();
