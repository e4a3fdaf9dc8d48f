// Anbu dashboard: the printed handover sheet for a case and for a household (issue 17). "인계서
// 인쇄" heads the page with what the next person needs on paper — who printed it and when, the
// person, whom to call, the next step — and a space for handwritten notes, then prints; the print
// stylesheet (dashboard.css, @media print) leaves out navigation, forms and buttons.
(() => {
  "use strict";

  const { $, t, el, table, api, localTime, LOCALE } = window.Anbu;

  let me = null;
  let shownCase = null;
  let shownHousehold = null;

  let nextStep = null;

  // nextText: the case page's own words for the next step, so the sheet says exactly the same.
  const caseLoaded = (item, user, nextText) => {
    me = user;
    shownCase = item;
    nextStep = nextText;
    $("case-handover").hidden = true; // a sheet belongs to the case it was made for
  };
  const householdLoaded = (item, user) => {
    me = user;
    shownHousehold = item;
    $("household-handover").hidden = true;
  };

  function header(box, title) {
    const printedAt = new Intl.DateTimeFormat(LOCALE, { dateStyle: "medium", timeStyle: "short" }).format(new Date());
    const who = me ? me.display_name || me.username : "";
    box.replaceChildren(
      el("h2", title, "handover-title"),
      el("p", t("handover.printed").replace("%when%", printedAt).replace("%who%", who), "muted"),
    );
  }

  function contactsTable(contacts) {
    return table(
      [t("col.name"), t("handover.relation"), t("col.phone"), t("handover.tier")],
      contacts.filter((c) => !c.opted_out).map((c) => [c.name, c.relation || null, c.phone, String(c.tier)]),
    );
  }

  function notesSpace() {
    const box = el("div", null, "handover-notes");
    box.appendChild(el("h3", t("handover.notes")));
    for (let i = 0; i < 5; i++) box.appendChild(el("div", null, "handover-line"));
    return box;
  }

  async function printCase() {
    if (!shownCase) return;
    const item = shownCase;
    const box = $("case-handover");
    header(box, t("handover.case_title").replace("%id%", String(item.id)).replace("%code%", item.household_code));
    const facts = [
      [t("handover.next"), nextStep],
      [t("handover.assignee"), item.assigned_display_name || item.assigned_username || t("handover.unassigned")],
    ];
    const dl = el("dl", null, "facts");
    for (const [label, value] of facts) dl.append(el("dt", label), el("dd", value || "–"));
    box.appendChild(dl);
    // Whom to call: the household's contacts (the household page's own data, an audited view).
    box.appendChild(el("h3", t("handover.contacts")));
    try {
      const household = await api("/households/" + item.household_id);
      box.appendChild(contactsTable(household.contacts));
    } catch (error) {
      box.appendChild(el("p", error.message, "muted"));
    }
    box.appendChild(notesSpace());
    box.hidden = false;
    window.print();
  }

  function printHousehold() {
    if (!shownHousehold) return;
    const item = shownHousehold;
    const box = $("household-handover");
    header(box, t("handover.household_title").replace("%code%", item.code));
    const open = item.cases.filter((c) => c.status === "open" || c.status === "acknowledged");
    const dl = el("dl", null, "facts");
    const residents = item.residents.map((r) => r.name + (r.phone ? " · " + r.phone : "")).join(", ");
    for (const [label, value] of [
      [t("case.person"), residents || null],
      [t("manage.address"), item.address || null],
      [t("household.last_activity"), item.last_activity_at ? localTime(item.last_activity_at, item.timezone) : null],
      [t("handover.open_cases"), open.length ? open.map((c) => "#" + c.id + " " + t("kind." + c.kind, c.kind)).join(", ") : t("none")],
    ]) {
      dl.append(el("dt", label), el("dd", value || "–"));
    }
    box.appendChild(dl);
    box.appendChild(el("h3", t("handover.contacts")));
    box.appendChild(contactsTable(item.contacts));
    box.appendChild(notesSpace());
    box.hidden = false;
    window.print();
  }

  $("case-print").addEventListener("click", printCase);
  $("household-print").addEventListener("click", printHousehold);

  window.AnbuHandover = { caseLoaded, householdLoaded };
})();
