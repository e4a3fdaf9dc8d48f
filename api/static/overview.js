// Anbu dashboard: the district overview (#/overview, issue 17). Per team and per 동 (from the
// address), how many households are watched, paused, quiet now, at each stage of their most
// severe open case, offline and still quiet after closing; every number links to the list behind
// it (#/overview/list?measure=…&team=…&dong=…), fetched from the same rows on the server.
(() => {
  "use strict";

  const { $, t, el, link, table, api, localTime } = window.Anbu;
  const STAGES = ["watch", "warning", "alert", "critical"];
  const BEFORE_STAGES = ["households", "watched", "paused", "quiet"];
  const AFTER_STAGES = ["offline", "quiet_after_closing"];
  const MEASURES = [...BEFORE_STAGES, ...STAGES.map((s) => "stage_" + s), ...AFTER_STAGES];
  const PAGE = 200;

  let latestLoad = 0; // only the latest of overlapping loads draws
  let listed = null; // {query, items, total}: the list on screen, for "show more"

  function measureLabel(measure) {
    if (measure.startsWith("stage_")) return t("overview.stage_group") + ": " + t("severity." + measure.slice(6));
    return t("overview.measure." + measure);
  }

  // The list behind a number is a URL of its own, so it can be bookmarked or sent.
  function listHash(measure, teamId, dong) {
    const query = new URLSearchParams({ measure });
    if (teamId !== null) query.set("team", String(teamId));
    if (dong !== null) query.set("dong", dong);
    return "#/overview/list?" + query.toString();
  }

  function number(n, measure, teamId, dong, area) {
    if (!n) return el("span", "0", "muted"); // nothing behind a zero
    const a = link(listHash(measure, teamId, dong), String(n));
    a.className = "overview-number";
    a.dataset.measure = measure;
    a.setAttribute(
      "aria-label",
      t("overview.number_label").replace("%area%", area).replace("%measure%", measureLabel(measure)).replace("%n%", String(n)),
    );
    return a;
  }

  function row(area, counts, teamId, dong, className) {
    const tr = el("tr", null, className);
    const th = el("th", area);
    th.scope = "row";
    tr.appendChild(th);
    for (const measure of MEASURES) {
      const td = el("td", null, "num");
      td.appendChild(number(counts[measure], measure, teamId, dong, area));
      tr.appendChild(td);
    }
    return tr;
  }

  function overviewTable(data) {
    const tableEl = el("table", null, "queue overview");
    const top = el("tr");
    const areaHead = el("th", t("overview.area"));
    areaHead.rowSpan = 2;
    top.appendChild(areaHead);
    for (const measure of BEFORE_STAGES) {
      const th = el("th", measureLabel(measure));
      th.rowSpan = 2;
      top.appendChild(th);
    }
    const group = el("th", t("overview.stage_group"));
    group.colSpan = STAGES.length;
    group.scope = "colgroup";
    top.appendChild(group);
    for (const measure of AFTER_STAGES) {
      const th = el("th", measureLabel(measure));
      th.rowSpan = 2;
      top.appendChild(th);
    }
    const second = el("tr");
    for (const stage of STAGES) second.appendChild(el("th", t("severity." + stage)));
    const thead = el("thead");
    thead.append(top, second);
    const tbody = el("tbody");
    if (data.teams.length > 1) tbody.appendChild(row(t("overview.all_total"), data.counts, null, null, "overview-total"));
    for (const team of data.teams) {
      const teamArea = t("overview.team_total").replace("%team%", team.team_name);
      tbody.appendChild(row(teamArea, team.counts, team.team_id, null, "overview-team"));
      for (const d of team.dongs) {
        const area = team.team_name + " · " + (d.dong || t("overview.no_dong"));
        tbody.appendChild(row(area, d.counts, team.team_id, d.dong, "overview-dong"));
      }
    }
    tableEl.append(thead, tbody);
    return tableEl;
  }

  async function fillTeams() {
    const select = $("overview-team");
    if (select.options.length > 1) return;
    try {
      const teams = await api("/teams");
      for (const team of teams.items) {
        const option = el("option", team.name);
        option.value = String(team.id);
        select.appendChild(option);
      }
    } catch (_) {
      // the overview still works for every team the user may see
    }
  }

  function fail(error) {
    const box = $("overview-error");
    box.textContent = error ? error.message : "";
    box.hidden = !error;
  }

  async function load(hash) {
    const thisLoad = ++latestLoad;
    fail(null);
    await fillTeams();
    const team = $("overview-team").value;
    let data;
    try {
      data = await api("/overview" + (team ? "?team_id=" + encodeURIComponent(team) : ""));
    } catch (error) {
      if (thisLoad === latestLoad && error.status !== 401) fail(error);
      return;
    }
    if (thisLoad !== latestLoad) return;
    $("overview-updated").textContent = localTime(data.generated_at);
    $("overview-table").replaceChildren(overviewTable(data));
    const match = hash.match(/^#\/overview\/list\?(.*)$/);
    if (!match) {
      listed = null;
      $("overview-list").hidden = true;
      return;
    }
    await showList(new URLSearchParams(match[1]), data, thisLoad);
  }

  function areaName(params, data) {
    const teamId = params.get("team");
    const team = data.teams.find((x) => String(x.team_id) === teamId);
    const teamName = team ? team.team_name : teamId === null ? t("overview.all_total") : "#" + teamId;
    if (!params.has("dong")) return teamId === null ? teamName : t("overview.team_total").replace("%team%", teamName);
    return teamName + " · " + (params.get("dong") || t("overview.no_dong"));
  }

  async function showList(params, data, thisLoad) {
    const measure = params.get("measure") || "households";
    const query = new URLSearchParams({ measure, limit: String(PAGE) });
    if (params.get("team")) query.set("team_id", params.get("team"));
    if (params.has("dong")) query.set("dong", params.get("dong"));
    $("overview-list-heading").textContent = t("overview.list_heading")
      .replace("%measure%", measureLabel(measure))
      .replace("%area%", areaName(params, data));
    listed = { query, items: [], total: 0 };
    await fetchPage(thisLoad);
    $("overview-list").hidden = false;
    $("overview-list-heading").focus();
  }

  async function fetchPage(thisLoad) {
    const query = new URLSearchParams(listed.query);
    query.set("offset", String(listed.items.length));
    let page;
    try {
      page = await api("/overview/households?" + query.toString());
    } catch (error) {
      if (thisLoad === latestLoad && error.status !== 401) fail(error);
      return;
    }
    if (thisLoad !== latestLoad || !listed) return;
    listed.items.push(...page.items);
    listed.total = page.total;
    $("overview-list-table").replaceChildren(
      table(
        [t("col.household"), t("overview.col.team"), t("overview.col.dong"), t("household.monitoring"), t("household.stage"), t("overview.col.last_sign")],
        listed.items.map((h) => [
          link("#/households/" + h.household_id, h.household_code),
          h.team_name,
          h.dong || t("overview.no_dong"),
          h.monitoring === "paused" ? t("overview.measure.paused") : t("household.active"),
          h.stage ? t("severity." + h.stage) : null,
          localTime(h.last_sign_at, h.household_timezone),
        ]),
      ),
    );
    $("overview-list-count").textContent = t("overview.list_count")
      .replace("%shown%", String(listed.items.length))
      .replace("%total%", String(listed.total));
    $("overview-more").hidden = listed.items.length >= listed.total;
  }

  $("overview-team").addEventListener("change", () => {
    if (location.hash === "#/overview") load(location.hash);
    else location.hash = "#/overview"; // another team's numbers: the old list no longer belongs
  });
  $("overview-more").addEventListener("click", () => listed && fetchPage(latestLoad));

  window.AnbuOverview = { load };
})();
