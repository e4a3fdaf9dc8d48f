// Anbu dashboard: the reports screen (#/reports): figures for a period and team, and the CSV export.
(() => {
  "use strict";

  const { $, t, el, table, link } = window.Anbu;
  const api = window.Anbu.request; // the response itself (a CSV download, an upload's result)
  const getJson = window.Anbu.api;
  const when = (iso, timeZone) => window.Anbu.localTime(iso, timeZone, "dated");
  const { select, form, fail, teams } = window.AnbuForms;

  let me = null;

  // ------------------------------------------------------------------ reports

  const REPORT_ROWS = [
    ["cases_opened", (r) => r.cases_opened],
    ["closed", (r) => r.closed],
    ["cleared_by_resident", (r) => r.cleared_by_resident],
    ["cleared_by_activity", (r) => r.cleared_by_activity],
    ["resolved_by_staff", (r) => r.resolved_by_staff],
    ["share_closed_without_staff", (r) => percent(r.share_closed_without_staff)],
    ["field_visits", (r) => r.field_visits],
    ["share_with_field_visit", (r) => percent(r.share_with_field_visit)],
    ["median_minutes_to_acknowledge", (r) => r.median_minutes_to_acknowledge],
    ["false_alarm_away", (r) => percent(r.false_alarm_rate.false_alarm_away)],
    ["false_alarm_device", (r) => percent(r.false_alarm_rate.false_alarm_device)],
  ];

  function percent(value) {
    return value === null || value === undefined ? null : (value * 100).toFixed(1) + " %";
  }

  function reportQuery() {
    const query = new URLSearchParams();
    if ($("report-team").value) query.set("team_id", $("report-team").value);
    // Dates are whole days where the caseworker is: from the start of "since" to the end of "until".
    if ($("report-since").value) query.set("since", new Date($("report-since").value + "T00:00:00").toISOString());
    if ($("report-until").value) {
      const end = new Date($("report-until").value + "T00:00:00");
      end.setDate(end.getDate() + 1);
      query.set("until", end.toISOString());
    }
    return query.toString();
  }

  async function loadReports(user) {
    me = user;
    fail("reports-error", null);
    const select = $("report-team");
    if (select.options.length <= 1) {
      for (const team of await teams()) {
        const option = el("option", team.name);
        option.value = String(team.id);
        select.appendChild(option);
      }
    }
    let report;
    try {
      report = await getJson("/reports?" + reportQuery());
    } catch (error) {
      fail("reports-error", error);
      return;
    }
    $("report-period").textContent = when(report.since) + " – " + when(report.until);
    window.AnbuCharts.render($("report-charts"), report);
    const headers = [t("report.figure"), ...report.teams.map((x) => x.team_name)];
    const rows = REPORT_ROWS.map(([key, get]) => [t("report." + key), ...report.teams.map((x) => get(x))]);
    const outcomes = ["resident_fine", "hospital", "found_in_need", "deceased", "other"];
    for (const code of outcomes) {
      rows.push([t("resolution." + code), ...report.teams.map((x) => x.by_outcome[code] || 0)]);
    }
    $("report-table").replaceChildren(table(headers, rows));
  }

  async function exportReport() {
    try {
      const response = await api("/reports/export.csv?" + reportQuery());
      const blob = await response.blob();
      const disposition = response.headers.get("Content-Disposition") || "";
      const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || "anbu-report.csv";
      const a = link(URL.createObjectURL(blob), "");
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (error) {
      fail("reports-error", error);
    }
  }

  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadReports(me);
  });
  $("report-export").addEventListener("click", exportReport);

  window.AnbuManage = Object.assign(window.AnbuManage || {}, { loadReports });
})();
