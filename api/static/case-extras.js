// Anbu dashboard: on the case page, assignment and the field-visit record (caseworkers, admins).
(() => {
  "use strict";

  const { $, t, el, sendJson, latestOnly } = window.Anbu;
  const getJson = window.Anbu.api;
  const { input, select, labelled, form, canManage } = window.AnbuForms;

  let me = null;

  // ------------------------------------------------------------------ case page: assignment, field visit

  // Only the latest of overlapping loads draws (else the assign form is appended twice).
  const startLoad = latestOnly();

  async function caseLoaded(item, user) {
    me = user;
    const box = $("case-extra");
    const isLatest = startLoad();
    box.replaceChildren();
    const assigned = el("p", null, "assigned");
    assigned.id = "case-assigned";
    assigned.append(
      el("strong", t("case.assigned_to") + ": "),
      item.assigned_display_name || item.assigned_username || t("case.unassigned"),
    );
    box.append(assigned);
    if (!canManage(me)) return;
    const active = item.status === "open" || item.status === "acknowledged";
    if (active && item.household_team_id) {
      // Ids and names only (not /teams/{id}/members, which is a personal-data view and audited).
      let members = [];
      try {
        members = (await getJson("/cases/" + item.id + "/assignees")).items;
      } catch (_) {
        members = [];
      }
      if (!isLatest()) return;
      const pick = select(
        "assignee",
        [["", t("case.unassigned")], ...members.map((m) => [m.id, m.display_name])],
        item.assigned_user_id || "",
      );
      box.append(
        form("case-assign-form", [labelled(t("case.assign_to"), pick)], t("action.assign"), async () => {
          await sendJson("POST", "/cases/" + item.id + "/assign", { user_id: pick.value ? Number(pick.value) : null });
          location.hash = "#/cases/" + item.id;
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        }),
      );
    }
    const now = new Date();
    now.setMinutes(now.getMinutes() - now.getTimezoneOffset());
    const visitedAt = input("visited_at", "datetime-local", now.toISOString().slice(0, 16), { required: true });
    const note = el("textarea");
    note.id = "m-visit-note";
    note.rows = 2;
    note.maxLength = 2000;
    note.required = true;
    box.append(
      el("h2", t("case.field_visit")),
      form("case-visit-form", [labelled(t("case.visited_at"), visitedAt), labelled(t("case.visit_note"), note)], t("action.record_visit"), async () => {
        await sendJson("POST", "/cases/" + item.id + "/field-visits", {
          visited_at: new Date(visitedAt.value).toISOString(),
          note: note.value,
        });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      }),
    );
  }

  window.AnbuManage = Object.assign(window.AnbuManage || {}, { caseLoaded });
})();
