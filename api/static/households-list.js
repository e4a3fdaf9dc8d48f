// Anbu dashboard: finding people (issue 17, item 5). The household list every screen shares —
// code, residents' names, address, team, last sign of life, watch and open cases — and the
// "find" view (#/find?q=…) behind the search box in the navigation, for every staff role: any
// part of a name, phone (with or without dashes), address or household code.
(() => {
  "use strict";

  const { $, t, el, link, table, localTime, api } = window.Anbu;
  const PAGE = 50;

  // The list's table; extra(h) adds a last cell per row (the management tab's edit button).
  function householdTable(items, teamList, extra) {
    const { teamName } = window.AnbuForms;
    const headers = [
      t("col.household"),
      t("col.name"),
      t("manage.address"),
      t("filter.team"),
      t("household.last_activity"),
      t("household.watch"),
      t("manage.open_cases"),
    ];
    const rows = items.map((h) => {
      const row = [
        link("#/households/" + h.id, h.code),
        h.resident_names.join(", "),
        h.address,
        teamName(teamList, h.team_id),
        h.last_activity_at ? localTime(h.last_activity_at, h.timezone) : null,
        h.monitoring === "paused" ? t("household.paused") : h.watch_status ? t("watch." + h.watch_status, h.watch_status) : null,
        String(h.open_cases),
      ];
      if (extra) row.push(extra(h));
      return row;
    });
    const node = table(extra ? [...headers, ""] : headers, rows);
    node.classList.add("households-list");
    return node;
  }

  // The search box's query string: ?q= for any part of a name, phone, address or code.
  function searchQuery(text, offset) {
    const query = new URLSearchParams({ limit: String(PAGE), offset: String(offset || 0) });
    if (text) query.set("q", text);
    return query;
  }

  function queryOf(hash) {
    const at = hash.indexOf("?");
    return at < 0 ? "" : new URLSearchParams(hash.slice(at + 1)).get("q") || "";
  }

  // #/find?q=…: the households that match, in the caller's scope (the API applies it).
  async function loadFind(hash) {
    const text = queryOf(hash).trim();
    $("find-q").value = text;
    $("find-heading-query").textContent = text ? "“" + text + "”" : "";
    const error = $("find-error");
    error.hidden = true;
    if (!text) {
      $("find-results").replaceChildren(el("p", t("find.help"), "muted"));
      return;
    }
    let page;
    let teamList;
    try {
      [page, teamList] = await Promise.all([api("/households?" + searchQuery(text).toString()), window.AnbuForms.teams()]);
    } catch (failure) {
      if (failure.status !== 401) {
        error.textContent = failure.message;
        error.hidden = false;
      }
      return;
    }
    const count = el("p", t("find.count").replace("%n%", String(page.total)), "muted");
    count.id = "find-count";
    const more = page.total > page.items.length ? el("p", t("find.more").replace("%n%", String(page.items.length)), "muted") : "";
    $("find-results").replaceChildren(count, householdTable(page.items, teamList), more);
  }

  // The navigation's search box: a bookmarkable view, so Back returns to the results.
  function wireSearch() {
    $("find-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("find-q").value.trim();
      location.hash = "#/find" + (text ? "?" + new URLSearchParams({ q: text }).toString() : "");
    });
  }

  window.AnbuHouseholds = { householdTable, searchQuery, loadFind, wireSearch, PAGE };
})();
