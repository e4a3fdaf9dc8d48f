// Anbu dashboard: the 119 hand-off sheet of a case (#/cases/N/handoff), printable: what a
// control-room operator reads out to 119 — the resident's name, age, address, phone, what they
// said, the last sign of life. Anbu never calls 119 itself. Data only ever goes in as text.
(() => {
  "use strict";

  const { $, t, el, api, phoneLink, localTime } = window.Anbu;

  function fact(label, value) {
    const row = el("div", null, "fact");
    row.append(el("dt", label), el("dd", null));
    const dd = row.lastChild;
    if (value instanceof Node) dd.append(value);
    else dd.textContent = value === null || value === undefined || value === "" ? t("handoff.not_on_file") : String(value);
    return row;
  }

  async function load(caseId) {
    const box = $("handoff-sheet");
    box.replaceChildren();
    const error = $("handoff-error");
    error.hidden = true;
    let sheet;
    try {
      sheet = await api("/cases/" + caseId + "/handoff");
    } catch (failure) {
      if (failure.status === 401) return;
      error.textContent = failure.status === 404 ? t("not_found") : failure.message;
      error.hidden = false;
      return;
    }
    const tz = sheet.household_timezone;
    $("handoff-heading").textContent = t("handoff.heading") + " — " + sheet.household_code;
    $("handoff-case-link").href = "#/cases/" + sheet.case_id;
    const people = sheet.residents.map((p) => {
      const dl = el("dl", null, "facts handoff-person");
      dl.append(
        fact(t("handoff.name"), p.name),
        fact(t("handoff.age"), p.age === null ? null : t("handoff.age_value").replace("%n%", String(p.age))),
        fact(t("handoff.phone"), p.phone ? phoneLink(p.phone) : null),
      );
      return dl;
    });
    const words = sheet.resident_words;
    const said = words
      ? el("blockquote", words.text ? "“" + words.text + "” (" + localTime(words.at, tz) + ")" : t("words.key_pressed"), "words-text")
      : null;
    const facts = el("dl", null, "facts");
    facts.append(
      fact(t("handoff.address"), sheet.address),
      fact(t("handoff.cause"), sheet.cause ? t("cause." + sheet.cause, sheet.cause) : t("kind." + sheet.kind, sheet.kind)),
      fact(t("handoff.last_sign"), sheet.last_sign_at ? localTime(sheet.last_sign_at, tz) : null),
      fact(t("handoff.opened"), localTime(sheet.opened_at, tz)),
      fact(t("handoff.caseworker_phone"), sheet.caseworker_phone ? phoneLink(sheet.caseworker_phone) : null),
    );
    box.append(el("p", t("handoff.instruction"), "handoff-instruction"), ...people, facts);
    if (said) box.append(el("h2", t("handoff.words")), said);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const print = $("handoff-print");
    if (print) print.addEventListener("click", () => window.print());
  });

  window.AnbuHandoff = { load };
})();
