// Anbu dashboard: sign in, then the case queue (kept fresh every 5 s without reloading), a case
// page, a household page and, for admins, the audit log. Views are chosen by the URL hash
// (#/, #/cases/7, #/households/3, #/audit). Data is only ever inserted with textContent.
(() => {
  "use strict";

  // The catalogue, DOM helpers, time formatting and the API client are shared (common.js).
  const { API, TOKEN_KEY, LOCALE, WEEKDAYS, $, t, link, phoneLink, button, table, localTime, explanationText, api, sendJson } =
    window.Anbu;
  const element = window.Anbu.el;
  const REFRESH_MS = 5000;

  let me = null;
  let lastRendered = "";
  let timer = null;
  let resolvingCase = null;
  let currentCase = null;
  let currentHousehold = null;
  let heatmapDays = 7;
  let auditOffset = 0;
  const AUDIT_PAGE = 50;
  const PANELS = [
    "queue-panel",
    "case-panel",
    "household-panel",
    "audit-panel",
    "manage-panel",
    "reports-panel",
    "overview-panel",
    "find-panel",
    "handoff-panel",
  ];
  // Management, reports, assignment and check-ins live in manage.js (loaded first).
  const extra = () => window.AnbuManage;

  const postJson = (path, body) => sendJson("POST", path, body);

  // ------------------------------------------------------------------ sign in / out

  function show(element, visible) {
    element.hidden = !visible;
  }

  function showError(element, text) {
    element.textContent = text || "";
    show(element, Boolean(text));
  }

  async function signIn(event) {
    event.preventDefault();
    const form = event.target;
    showError($("login-error"), "");
    const body = new URLSearchParams({ username: form.username.value, password: form.password.value });
    let response;
    try {
      response = await fetch(API + "/auth/token", { method: "POST", body });
    } catch (_) {
      showError($("login-error"), t("login.error"));
      return;
    }
    if (response.status === 429) {
      showError($("login-error"), t("login.rate_limited"));
      return;
    }
    if (!response.ok) {
      showError($("login-error"), response.status === 401 ? t("login.failed") : t("login.error"));
      return;
    }
    const token = await response.json();
    sessionStorage.setItem(TOKEN_KEY, token.access_token);
    form.password.value = "";
    await start();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    me = null;
    lastRendered = "";
    if (timer) clearInterval(timer);
    timer = null;
    for (const id of PANELS) show($(id), false);
    show($("views-nav"), false);
    show($("logout"), false);
    show($("whoami"), false);
    show($("login-panel"), true);
    window.AnbuLive.stop();
    if ($("resolve-dialog").open) $("resolve-dialog").close();
    showError($("login-error"), message || "");
  }

  async function start() {
    if (!sessionStorage.getItem(TOKEN_KEY)) {
      signOut();
      return;
    }
    try {
      me = await api("/auth/me");
    } catch (_) {
      return; // api() already returned us to the sign-in form on 401
    }
    $("whoami").textContent = t("signed_in_as") + ": " + me.username;
    show($("whoami"), true);
    show($("logout"), true);
    show($("login-panel"), false);
    const routesBefore = routes;
    await loadTeams();
    window.AnbuLive.start(me); // the live notice of new 긴급 cases, if the user wants it
    // The views appear once the screen is ready (teams, live-notice settings): what a user (or a
    // test) does from the menu then finds them in place.
    show($("views-nav"), true);
    show($("nav-audit"), me.role === "admin");
    show($("nav-manage"), me.role === "admin" || me.role === "caseworker");
    // A view the user opened while the teams loaded is drawn already: drawing it again would
    // replace a form being filled in (an upload then reports into a form no longer on the page).
    if (routes === routesBefore) await route();
    if (timer) clearInterval(timer);
    timer = setInterval(() => {
      if (!$("queue-panel").hidden) refresh();
    }, REFRESH_MS);
  }

  // ------------------------------------------------------------------ views

  let routes = 0; // how many views have been drawn since the page loaded (start() reads it)
  async function route() {
    if (!me) return;
    routes += 1;
    const hash = location.hash || "#/";
    let match;
    if ((match = hash.match(/^#\/cases\/(\d+)$/))) return showPanel("case-panel", () => loadCase(match[1]));
    if ((match = hash.match(/^#\/cases\/(\d+)\/handoff$/)) && window.AnbuHandoff)
      return showPanel("handoff-panel", () => window.AnbuHandoff.load(match[1]));
    if ((match = hash.match(/^#\/households\/(\d+)$/)))
      return showPanel("household-panel", () => loadHousehold(match[1]));
    if (hash === "#/audit" && me.role === "admin") return showPanel("audit-panel", loadAudit);
    if (hash === "#/find" || hash.startsWith("#/find?")) return showPanel("find-panel", () => window.AnbuHouseholds.loadFind(hash));
    if (hash.startsWith("#/manage") && me.role !== "control_room" && extra())
      return showPanel("manage-panel", () => extra().loadManage(hash, me));
    if (hash === "#/reports" && extra()) return showPanel("reports-panel", () => extra().loadReports(me));
    if (hash.startsWith("#/overview") && window.AnbuOverview)
      return showPanel("overview-panel", () => window.AnbuOverview.load(hash));
    return showPanel("queue-panel", () => {
      lastRendered = "";
      return refresh();
    });
  }

  async function showPanel(id, load) {
    for (const panel of PANELS) show($(panel), panel === id);
    await load();
  }

  // How far a plug's clock is off ("1일", "3시간", "20분"), from its learned offset in seconds.
  function clockSpan(seconds) {
    const s = Math.abs(seconds);
    const [value, unit] = s >= 86400 ? [s / 86400, "day"] : s >= 3600 ? [s / 3600, "hour"] : [s / 60, "minute"];
    return new Intl.NumberFormat(LOCALE, { style: "unit", unit, unitDisplay: "long", maximumFractionDigits: 1 }).format(value);
  }

  // A device's connectivity, and the staff-visible clock problem when its clock is wrong.
  function connectivity(d) {
    const state = d.online === null ? t("device.unknown") : d.online ? t("device.online") : t("device.offline");
    if (!d.clock_wrong) return state;
    const key = d.clock_offset_s > 0 ? "device.clock_behind" : "device.clock_ahead";
    const problem = element("span", state + " · " + t(key).replace("%n%", clockSpan(d.clock_offset_s)), "flag");
    problem.title = t("device.clock_help");
    return problem;
  }

  // What the detector has learned, in one line: staff judge an alert better knowing whether the
  // household is still on the fixed window and whether "I'm fine" answers have been learned from.
  // The severity ladder's stage now: watch/warning are for staff (no one is called for them).
  function stageText(item, tz) {
    if (item.monitoring === "paused") return null;
    if (!item.stage) return t("household.stage_none");
    return t("household.stage_since")
      .replace("%stage%", t("severity." + item.stage))
      .replace("%since%", localTime(item.stage_since, tz));
  }

  function routineText(routine, tz) {
    if (!routine) return null;
    if (!routine.learned) return t("routine.learning").replace("%needed%", String(routine.days_needed));
    const parts = [
      t("routine.learned").replace("%days%", String(routine.days_used)).replace("%when%", localTime(routine.fitted_at, tz)),
    ];
    if (routine.latest_usual_start) parts.push(t("routine.latest_start").replace("%time%", routine.latest_usual_start));
    if (routine.confirmed_false_alarms) {
      parts.push(t("routine.confirmed").replace("%n%", String(routine.confirmed_false_alarms)));
    }
    return parts.join(" · ");
  }

  function facts(dl, pairs) {
    const children = [];
    for (const [label, value] of pairs) {
      children.push(element("dt", label), element("dd", value === null || value === undefined ? "–" : value));
    }
    dl.replaceChildren(...children);
  }

  async function loadTeams() {
    try {
      const teams = await api("/teams");
      const select = $("filter-team");
      const keep = select.value;
      select.replaceChildren(select.options[0]);
      for (const team of teams.items) {
        const option = element("option", team.name);
        option.value = String(team.id);
        select.appendChild(option);
      }
      select.value = keep;
    } catch (_) {
      // the queue still works without the team filter
    }
  }

  // ------------------------------------------------------------------ queue

  async function refresh() {
    if (!me) return;
    let page;
    try {
      const query = new URLSearchParams([["status", "open"], ["status", "acknowledged"], ["limit", "200"]]);
      for (const [name, id] of [["team_id", "filter-team"], ["severity", "filter-severity"], ["kind", "filter-kind"]]) {
        if ($(id).value) query.append(name, $(id).value);
      }
      if ($("filter-mine").checked) query.append("assigned_user_id", String(me.id));
      query.append("sort", $("queue-sort").value); // sorted by the server, over every case it may show
      page = await api("/cases?" + query.toString());
    } catch (error) {
      if (error.status === 403) showError($("queue-error"), t("action.forbidden"));
      else if (error.status !== 401) showError($("queue-error"), t("queue.offline"));
      return;
    }
    showError($("queue-error"), "");
    refreshIncidents();
    window.AnbuClosing.refreshQuiet();
    $("queue-updated").textContent = new Date().toLocaleTimeString(LOCALE);
    $("queue-count").textContent = String(page.total);
    const snapshot = JSON.stringify(page.items);
    if (snapshot === lastRendered) return; // nothing changed: keep focus and scroll where they are
    lastRendered = snapshot;
    render(page.items);
  }

  // System incidents (a deaf gateway, a lost broker session): above the queue, for every staff role.
  let lastIncidents = "";

  async function refreshIncidents() {
    let page;
    try {
      page = await api("/incidents?limit=20");
    } catch (_) {
      return; // the queue's own error line already says when the server cannot be reached
    }
    const snapshot = JSON.stringify(page.items);
    if (snapshot === lastIncidents) return;
    lastIncidents = snapshot;
    const items = page.items.map((incident) => {
      const li = element("li", null, "incident incident-" + incident.status);
      li.appendChild(element("p", incidentText(incident)));
      const meta = [t("incident.since") + ": " + localTime(incident.opened_at), t("incident.status." + incident.status)];
      if (incident.acknowledged_by) meta.push(t("incident.acknowledged_by").replace("%who%", incident.acknowledged_by));
      li.appendChild(element("p", meta.join(" · "), "muted"));
      if (incident.status === "open") {
        li.appendChild(
          button(t("incident.acknowledge"), "button-quiet", async (event) => {
            event.currentTarget.disabled = true;
            try {
              await api("/incidents/" + incident.id + "/acknowledge", { method: "POST" });
            } catch (_) {
              // shown again as it is on the next refresh
            }
            lastIncidents = "";
            refreshIncidents();
          }),
        );
      }
      return li;
    });
    $("incidents-list").replaceChildren(...items);
    show($("incidents"), items.length > 0);
  }

  function span(seconds) {
    if (seconds === null || seconds === undefined) return t("incident.unknown");
    const [value, unit] =
      seconds >= 5400 ? [seconds / 3600, "hour"] : seconds >= 90 ? [seconds / 60, "minute"] : [seconds, "second"];
    return new Intl.NumberFormat(LOCALE, { style: "unit", unit, unitDisplay: "long", maximumFractionDigits: 0 }).format(value);
  }

  function incidentText(incident) {
    const d = incident.detail || {};
    const when = d.lost_at || d.last_update;
    let text = t("incident." + incident.kind, incident.kind)
      .replace("%source%", incident.source)
      .replace("%silent%", span(d.silent_s))
      .replace("%limit%", span(d.limit_s))
      .replace("%disconnects%", String(d.disconnects ?? "–"))
      .replace("%takeovers%", String(d.takeovers ?? "–"))
      .replace("%when%", when ? localTime(when) : t("incident.unknown"));
    if (incident.kind === "gateway_deaf" && d.connected === false) text += " (" + t("incident.disconnected") + ")";
    return text;
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function doneItems(item) {
    const done = [];
    for (const call of item.calls) {
      const result = call.outcome
        ? t("call_outcome." + call.outcome, call.outcome)
        : t("call_status." + call.status, call.status);
      done.push(t("done.call") + " (" + t("recipient." + call.recipient_kind) + "): " + result);
    }
    for (const note of item.notifications) {
      done.push(
        t("channel." + note.channel, note.channel) +
          " → " +
          t("recipient." + note.recipient_kind, note.recipient_kind) +
          ": " +
          t("outbox." + note.status, note.status),
      );
    }
    if (item.acknowledged_by) done.push(t("done.acknowledged_by") + ": " + person(item, "acknowledged_by"));
    return done;
  }

  // Each cell names its column (data-label): under ~700 px the queue's rows become cards.
  function labelCells(row) {
    const headers = document.querySelectorAll("#queue-panel table.queue thead th");
    row.querySelectorAll("td").forEach((td, i) => {
      if (headers[i] && headers[i].textContent.trim()) td.dataset.label = headers[i].textContent.trim();
    });
  }

  function render(items) {
    const body = $("queue-body");
    const rows = [];
    if (items.length === 0) {
      const row = document.createElement("tr");
      const td = cell(row, t("queue.empty"), "empty");
      td.colSpan = 9;
      rows.push(row);
    }
    for (const item of items) {
      const row = document.createElement("tr");
      row.className = "sev-row-" + item.severity;
      const sev = cell(row, "");
      const badge = document.createElement("span");
      badge.className = "badge sev-" + item.severity;
      badge.textContent = t("severity." + item.severity, item.severity);
      sev.appendChild(badge);
      const code = cell(row, "", "code");
      code.appendChild(link("#/households/" + item.household_id, item.household_code));
      cell(row, causeOrKind(item));
      const why = cell(row, "", "explanation");
      if (item.resident_words && item.resident_words.text) {
        why.append(element("q", item.resident_words.text, "words"), element("div", explanationText(item), "muted"));
      } else {
        why.textContent = explanationText(item);
      }
      cell(row, localTime(item.opened_at, item.household_timezone), "nowrap");
      const done = cell(row, "");
      const lines = doneItems(item);
      if (lines.length === 0) {
        done.textContent = t("done.none");
        done.className = "muted";
      } else {
        const list = document.createElement("ul");
        list.className = "done";
        for (const line of lines) {
          const li = document.createElement("li");
          li.textContent = line;
          list.appendChild(li);
        }
        done.appendChild(list);
      }
      cell(row, nextText(item), "next");
      const statusCell = cell(row, t("status." + item.status, item.status), "status status-" + item.status);
      if (item.assigned_user_id) statusCell.appendChild(element("div", "→ " + assigneeName(item), "assignee"));
      const actions = cell(row, "", "actions");
      actions.appendChild(link("#/cases/" + item.id, t("action.open")));
      if (item.status === "open") {
        actions.appendChild(button(t("action.acknowledge"), "button-primary", (event) => acknowledge(item, event.currentTarget)));
      }
      if (me && me.role !== "control_room") {
        actions.appendChild(button(t("action.resolve"), "button-secondary", () => openResolve(item)));
      }
      labelCells(row);
      rows.push(row);
    }
    body.replaceChildren(...rows);
  }

  // The cause in words when the resident said what is wrong (낙상·도움 요청), else the alert's kind.
  function causeOrKind(item) {
    return item.cause ? t("cause." + item.cause) : t("kind." + item.kind, item.kind);
  }

  // People by the names they go by (the API's display names), never "user:login".
  function person(item, field) {
    return item[field + "_name"] || (item[field] || "").replace(/^user:/, "");
  }

  function assigneeName(item) {
    return item.assigned_display_name || item.assigned_username;
  }

  function actorLabel(e) {
    if (e.actor_kind === "user" || e.actor_kind === "contact") return e.actor_name || e.actor.replace(/^user:/, "");
    return t("actor." + (e.actor_kind || "system"));
  }

  // What an event adds to its line: the resident's words, an outcome and its note, a visit.
  function eventDetail(e, tz) {
    const d = e.data || {};
    if (e.type === "note" && d.text) return d.text;
    if (e.type === "reply_unverified") {
      return (d.relation ? d.relation + ": " : "") + t("reply_unverified." + d.reason, d.reason) + " (" + d.channel + ")";
    }
    if (e.type === "call_outcome" && d.excerpt) return "“" + d.excerpt + "” → " + t("call_outcome." + d.intent, d.intent);
    if (e.type === "resolved") return [t("resolution." + d.code, d.code), d.note].filter(Boolean).join(" — ");
    if (e.type === "field_visit") {
      return (d.visitor_name || d.visitor || "") + " · " + localTime(d.visited_at, tz) + " — " + (d.note || "");
    }
    return "";
  }

  function nextText(item) {
    if (item.status !== "open" && item.status !== "acknowledged") return t("next.closed");
    if (!item.next_action_at || item.next_actions.length === 0) return t("next.none");
    const what = item.next_actions.map((a) => t("next." + a, a)).join(", ");
    return what + " — " + localTime(item.next_action_at, item.household_timezone);
  }

  // ------------------------------------------------------------------ case page

  // GET what a page shows; a failure is said on the page's error line (a 404 as "not found"), and
  // the answer is then null.
  async function fetchShown(url, errorBox) {
    showError(errorBox, "");
    try {
      return await api(url);
    } catch (error) {
      if (error.status !== 401) showError(errorBox, error.status === 404 ? t("not_found") : error.message);
      return null;
    }
  }

  async function loadCase(id) {
    const item = await fetchShown("/cases/" + id, $("case-error"));
    if (!item) return;
    currentCase = item;
    window.AnbuHandover.caseLoaded(item, me, nextText(item)); // the printed sheet's data
    const tz = item.household_timezone;
    $("case-heading").textContent =
      t("case.heading") + " #" + item.id + " — " + item.household_code + " (" + causeOrKind(item) + ")";
    showPerson(item);
    showWords(item.resident_words, tz);
    showCaseToday(item); // not awaited: the summary below does not wait for it
    const closed = item.status === "resolved" || item.status === "cleared";
    facts($("case-summary"), [
      [t("col.severity"), t("severity." + item.severity, item.severity)],
      [t("col.status"), t("status." + item.status, item.status)],
      [t("col.explanation"), explanationText(item)],
      [t("col.opened"), localTime(item.opened_at, tz)],
      [t("col.next"), nextText(item)],
      [t("done.acknowledged_by"), item.acknowledged_by ? person(item, "acknowledged_by") : null],
      [t("case.follow_up_visits"), item.follow_up_visits ? t("case.follow_up_visits_due") : null],
      ...(closed
        ? [
            [t("resolve.code"), item.resolution_code ? t("resolution." + item.resolution_code) : t("status.cleared")],
            [t("case.resolution_note"), item.resolution_note || null],
            [t("case.closed_by"), item.resolved_by ? person(item, "resolved_by") + " · " + localTime(item.resolved_at, tz) : null],
          ]
        : []),
    ]);
    $("case-household-link").href = "#/households/" + item.household_id;
    $("case-handoff-link").href = "#/cases/" + item.id + "/handoff";
    show($("case-ack"), item.status === "open");
    show($("case-resolve"), me.role !== "control_room" && (item.status === "open" || item.status === "acknowledged"));
    const events = item.events.map((e) => {
      const li = element("li");
      li.append(
        element("time", localTime(e.at, tz), "muted"),
        " ",
        element("strong", t("event." + e.type, e.type)),
        " ",
        element("span", actorLabel(e), "muted"),
      );
      const detail = eventDetail(e, tz);
      if (detail) li.append(element("p", detail, "note-text"));
      return li;
    });
    $("case-timeline").replaceChildren(...events);
    $("case-calls").replaceChildren(
      table(
        [t("col.when"), t("col.to"), t("col.status"), t("col.intent"), t("col.transcript")],
        item.calls.map((c) => [
          localTime(c.created_at, tz),
          t("recipient." + c.recipient_kind) + " " + c.to,
          c.outcome ? t("call_outcome." + c.outcome, c.outcome) : t("call_status." + c.status, c.status),
          c.intent ? c.intent + (c.confidence !== null ? " (" + Math.round(c.confidence * 100) + "%)" : "") : null,
          c.transcript || null,
        ]),
      ),
    );
    $("case-notifications").replaceChildren(
      table(
        [t("col.when"), t("col.to"), t("col.channel"), t("col.status")],
        item.notifications.map((n) => [
          localTime(n.created_at, tz),
          t("recipient." + n.recipient_kind) + " " + n.to,
          t("channel." + n.channel, n.channel),
          t("outbox." + n.status, n.status) + (n.error ? " — " + n.error : ""),
        ]),
      ),
    );
    if (extra()) await extra().caseLoaded(item, me);
  }

  // Who the case is about, first (issue 17): her name, birth year, a number to tap and the address.
  function showPerson(item) {
    const box = $("case-person");
    const lines = item.residents.map((r) => {
      const line = element("p", null, "person-line");
      line.append(element("strong", r.name));
      if (r.birth_year) line.append(" · " + t("case.born").replace("%year%", String(r.birth_year)));
      if (r.phone) line.append(" · ", phoneLink(r.phone));
      return line;
    });
    if (item.household_address) lines.push(element("p", item.household_address, "person-line muted"));
    box.replaceChildren(...lines);
    show(box, lines.length > 0);
  }

  // The resident's own words as a banner in the case header (issue 17): never only in a transcript.
  function showWords(words, tz) {
    const box = $("case-words");
    if (!words) {
      box.replaceChildren();
      show(box, false);
      return;
    }
    const said = words.text ? element("blockquote", "“" + words.text + "”", "words-text") : element("p", t("words.key_pressed"));
    box.replaceChildren(
      element("strong", t("cause." + words.cause) + " · " + t("words.said") + " (" + localTime(words.at, tz) + ")"),
      said,
    );
    show(box, true);
  }

  // What an error line says when an action was refused or failed.
  function refusal(error) {
    return error.status === 403 ? t("action.forbidden") : t("action.failed") + ": " + error.message;
  }

  // POST an action on what the page shows; a refusal is said on the page's error line, and the
  // page is drawn again once the action is taken. True when it was.
  async function act(url, errorBox, body, reload) {
    showError(errorBox, "");
    try {
      await postJson(url, body);
    } catch (error) {
      if (error.status !== 401) showError(errorBox, refusal(error));
      return false;
    }
    await reload();
    return true;
  }

  async function caseAction(path, body) {
    if (!currentCase) return;
    return act("/cases/" + currentCase.id + path, $("case-error"), body, () => loadCase(currentCase.id));
  }

  async function submitNote(event) {
    event.preventDefault();
    const text = $("case-note-text").value.trim();
    if (!text) return;
    if (await caseAction("/notes", { text })) $("case-note-text").value = "";
  }

  // ------------------------------------------------------------------ household page

  async function loadHousehold(id) {
    const item = await fetchShown("/households/" + id, $("household-error"));
    if (!item) return;
    currentHousehold = item;
    window.AnbuHandover.householdLoaded(item, me);
    const tz = item.timezone;
    $("household-heading").textContent = t("household.heading") + " " + item.code;
    const paused = item.monitoring === "paused";
    facts($("household-summary"), [
      [t("col.name"), item.resident_names.join(", ") || null],
      [t("manage.address"), item.address || null],
      [t("household.monitoring"), paused ? t("household.paused") + " → " + localTime(item.paused_until, tz) : t("household.active")],
      [t("household.watch"), item.watch_status ? t("watch." + item.watch_status, item.watch_status) : null],
      [t("household.last_activity"), item.last_activity_at ? localTime(item.last_activity_at, tz) : null],
      [t("household.alert_after"), item.alert_after ? localTime(item.alert_after, tz) : null],
      [t("household.stage"), stageText(item, tz)],
      [t("household.why"), explanationText({ explanation_texts: item.watch_explanation_texts, explanation: item.watch_explanation }) || null],
      [t("household.routine"), routineText(item.routine, tz)],
      [t("household.timezone"), tz],
      ...(item.erased_at ? [[t("household.erased"), localTime(item.erased_at, tz)]] : []),
    ]);
    renderNotes(item);
    const canManage = me.role === "admin" || me.role === "caseworker";
    // An erased household is never watched again (docs/privacy.md): no pause, no resume.
    show($("household-pause-form"), canManage && !item.erased_at);
    show($("household-resume"), canManage && paused && !item.erased_at);
    $("household-devices").replaceChildren(
      table(
        [t("col.appliance"), t("col.device"), t("col.connectivity"), t("col.last_reading")],
        item.devices.map((d) => [
          d.appliance ? t("appliance." + d.appliance, d.appliance) : "–",
          d.vendor + ":" + d.external_id,
          connectivity(d),
          d.last_reading_at
            ? localTime(d.last_reading_at, tz) + (d.last_power_w !== null ? " · " + d.last_power_w + " W" : "")
            : null,
        ]),
      ),
    );
    const people = item.residents.map((r) => [t("recipient.resident"), r.name, phoneLink(r.phone), "–", ""]);
    for (const c of item.contacts) {
      const linkButton =
        canManage && !c.opted_out ? button(t("action.status_link"), "button-quiet", () => makeStatusLink(c.id)) : "";
      people.push([
        t("recipient.contact") + " " + c.tier + (c.relation ? " (" + c.relation + ")" : ""),
        c.name,
        phoneLink(c.phone),
        c.opted_out ? t("contact.opted_out") : t("channel." + c.preferred_channel, c.preferred_channel),
        linkButton,
      ]);
    }
    $("household-people").replaceChildren(
      table([t("col.role"), t("col.name"), t("col.phone"), t("col.channel"), ""], people),
    );
    show($("household-link"), false);
    await window.AnbuStatusLinks.load(item, me);
    $("household-cases").replaceChildren(
      table(
        [t("col.opened"), t("col.kind"), t("col.status"), t("resolve.code")],
        item.cases.map((c) => [
          link("#/cases/" + c.id, localTime(c.opened_at, tz)),
          t("kind." + c.kind, c.kind),
          t("status." + c.status, c.status),
          c.resolution_code ? t("resolution." + c.resolution_code) : null,
        ]),
      ),
    );
    await loadHeatmap();
    await loadDay(null);
    if (extra()) await extra().householdLoaded(item, me);
  }

  // Staff-only notes: the "looks away" suggestion and open away reminders / pattern findings.
  function renderNotes(item) {
    const tz = item.timezone;
    const entries = [];
    if (item.looks_away) {
      const text = t("household.looks_away")
        .replace("%since%", localTime(item.looks_away.since, tz))
        .replace("%peak%", String(item.looks_away.peak_w))
        .replace("%base%", String(item.looks_away.base_w));
      entries.push(element("li", text, "staff-note suggestion"));
    }
    for (const note of item.notes || []) {
      const li = element("li", null, "staff-note");
      li.appendChild(link("#/cases/" + note.case_id, t("kind." + note.kind, note.kind)));
      li.appendChild(element("span", " · " + localTime(note.opened_at, tz) + " — ", "muted"));
      li.appendChild(element("span", explanationText(note)));
      entries.push(li);
    }
    $("household-notes-list").replaceChildren(...entries);
    show($("household-notes"), entries.length > 0);
  }


  function heatLevel(value, max) {
    if (value <= 0 || max <= 0) return 0;
    return Math.min(5, Math.max(1, Math.ceil((value / max) * 5)));
  }

  function heatmapTable(caption, grid) {
    const max = Math.max(0, ...grid.flat());
    const tableEl = element("table", null, "heatmap");
    tableEl.appendChild(element("caption", caption));
    const head = element("tr");
    head.appendChild(element("th", ""));
    for (let h = 0; h < 24; h++) head.appendChild(element("th", h % 3 === 0 ? String(h) : ""));
    tableEl.appendChild(head);
    grid.forEach((row, day) => {
      const tr = element("tr");
      tr.appendChild(element("th", t(WEEKDAYS[day])));
      row.forEach((value, hour) => {
        const td = element("td", "", "heat-" + heatLevel(value, max));
        td.title = t(WEEKDAYS[day]) + " " + hour + ":00 — " + value;
        tr.appendChild(td);
      });
      tableEl.appendChild(tr);
    });
    return tableEl;
  }

  // ------------------------------------------------------------------ day view

  let dayShown = null; // YYYY-MM-DD of the day on screen
  let dayMax = null; // the household's today, as the server sees it (never ahead of its clock)

  function shiftDate(iso, days) {
    const d = new Date(iso + "T12:00:00Z"); // noon UTC: no DST edge can move the calendar day
    d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  }

  // A household panel's data, or null once its failure is shown (a 401 signs out: api()).
  async function householdData(path) {
    try {
      return await api("/households/" + currentHousehold.id + path);
    } catch (error) {
      if (error.status !== 401) showError($("household-error"), error.message);
      return null;
    }
  }

  async function loadDay(date) {
    if (!currentHousehold) return;
    const query = date ? "?date=" + encodeURIComponent(date) : "";
    const data = await householdData("/activity/day" + query);
    if (!data) return;
    if (!date) dayMax = data.date;
    dayShown = data.date;
    $("household-day-date").value = data.date;
    $("household-day-date").max = dayMax;
    $("household-day-next").disabled = data.date >= dayMax;
    const tableEl = dayTable(data, data.date === dayMax);
    const times = data.switch_ons.map((s) => {
      const at = new Intl.DateTimeFormat(LOCALE, { timeZone: data.timezone, hour: "2-digit", minute: "2-digit" }).format(new Date(s.at));
      return at + (s.appliance ? " " + t("appliance." + s.appliance, s.appliance) : "");
    });
    $("household-day").replaceChildren(
      tableEl,
      element("p", t("day.switch_ons") + ": " + (times.length ? times.join(" · ") : t("day.none")), times.length ? "" : "muted"),
    );
  }

  // The server's "now" as a local hour of the household (``until`` is now for today).
  function nowHour(data) {
    const parts = new Intl.DateTimeFormat("en-GB", { timeZone: data.timezone, hour: "2-digit", hourCycle: "h23" });
    return Number(parts.format(new Date(data.until)));
  }

  // One day hour by hour against the usual for that weekday; today's hour now is marked in both rows.
  function dayTable(data, isToday) {
    const max = Math.max(0, ...data.hours, ...data.usual);
    const now = isToday ? nowHour(data) : null;
    const tableEl = element("table", null, "heatmap day-view");
    let caption = t("day.caption").replace("%date%", data.date);
    if (now !== null) caption += " · " + t("day.now").replace("%hour%", String(now));
    tableEl.appendChild(element("caption", caption));
    const head = element("tr");
    head.appendChild(element("th", ""));
    for (let h = 0; h < 24; h++) head.appendChild(element("th", String(h), h === now ? "now" : null));
    tableEl.appendChild(head);
    for (const [label, values] of [
      [isToday ? t("day.today_so_far") : t("day.this_day"), data.hours],
      [t("day.usual"), data.usual],
    ]) {
      const tr = element("tr");
      tr.appendChild(element("th", label));
      values.forEach((value, hour) => {
        const shown = value ? String(Math.round(value * 10) / 10) : "";
        const td = element("td", shown, "heat-" + heatLevel(value, max) + (hour === now ? " now" : ""));
        td.title = label + " " + hour + ":00 — " + value;
        tr.appendChild(td);
      });
      tableEl.appendChild(tr);
    }
    return tableEl;
  }

  // The case header: today's activity in the household against its usual, with "now" marked.
  async function showCaseToday(item) {
    const box = $("case-today");
    let data;
    try {
      data = await api("/households/" + item.household_id + "/activity/day");
    } catch (error) {
      show(box, false); // the rest of the case page stands without it
      return;
    }
    if (currentCase === null || currentCase.id !== item.id) return; // a newer case is on screen
    box.replaceChildren(element("h2", t("case.today")), dayTable(data, true));
    show(box, true);
  }

  async function loadHeatmap() {
    if (!currentHousehold) return;
    const data = await householdData("/activity?days=" + heatmapDays);
    if (!data) return;
    $("household-days-7").setAttribute("aria-pressed", String(heatmapDays === 7));
    $("household-days-30").setAttribute("aria-pressed", String(heatmapDays === 30));
    $("household-heatmap").replaceChildren(
      heatmapTable(t("heat.recent").replace("N", String(data.days)), data.recent),
      heatmapTable(t("heat.routine"), data.routine),
    );
    const note = routineNote(data);
    if (note) $("household-heatmap").appendChild(element("p", note, "muted heatmap-note"));
  }

  // Why the usual week is blank or faint: not enough history yet, and from when it will show.
  function routineNote(data) {
    if (data.routine_complete) return null;
    const tz = currentHousehold.timezone;
    if (!data.history_since) return t("heat.routine_none").replace("%days%", String(data.days + 7 * data.routine_weeks));
    return t("heat.routine_partial")
      .replace("%from%", localTime(data.routine_since, tz, "dated"))
      .replace("%first%", localTime(data.history_since, tz, "dated"))
      .replace("%full%", localTime(data.routine_full_from, tz, "dated"));
  }

  async function householdAction(path, body) {
    if (!currentHousehold) return;
    const url = "/households/" + currentHousehold.id + path;
    await act(url, $("household-error"), body, () => loadHousehold(currentHousehold.id));
  }

  async function makeStatusLink(contactId) {
    if (!currentHousehold) return;
    showError($("household-error"), "");
    let link;
    try {
      link = await postJson("/households/" + currentHousehold.id + "/status-links", { contact_id: contactId, days: 7 });
    } catch (error) {
      if (error.status !== 401) showError($("household-error"), t("action.failed") + ": " + error.message);
      return;
    }
    $("household-link-url").value = link.url; // shown once, for the caseworker to send; never logged
    show($("household-link"), true);
    $("household-link-url").select();
    await window.AnbuStatusLinks.load(currentHousehold, me);
  }

  function submitPause(event) {
    event.preventDefault();
    const value = $("household-pause-until").value; // YYYY-MM-DD in the browser's calendar
    if (!value) return;
    const [y, m, d] = value.split("-").map(Number);
    const until = new Date(y, m - 1, d, 23, 59, 0); // the end of that day, where the caseworker is
    householdAction("/pause", { until: until.toISOString() });
  }

  // ------------------------------------------------------------------ audit log

  async function loadAudit() {
    showError($("audit-error"), "");
    const query = new URLSearchParams({ limit: String(AUDIT_PAGE), offset: String(auditOffset) });
    if ($("audit-filter-action").value) query.set("action", $("audit-filter-action").value);
    if ($("audit-filter-object").value) query.set("object_type", $("audit-filter-object").value);
    let page;
    try {
      page = await api("/audit?" + query.toString());
    } catch (error) {
      if (error.status !== 401) showError($("audit-error"), error.status === 403 ? t("action.forbidden") : error.message);
      return;
    }
    const when = (iso) => new Date(iso).toLocaleString(LOCALE);
    const target = (e) => {
      const label = t("audit_object." + e.object_type, e.object_type) + (e.object_id ? " #" + e.object_id : "");
      if (e.object_type === "case") return link("#/cases/" + e.object_id, label);
      if (e.object_type === "household") return link("#/households/" + e.object_id, label);
      return label;
    };
    // A status-page view has no user: the family link it came through (its id, never its URL).
    const who = (e) =>
      e.username || (e.user_id !== null ? "#" + e.user_id : e.status_link_id !== null ? t("audit.via_link") + " #" + e.status_link_id : "–");
    $("audit-table").replaceChildren(
      table(
        [t("col.when"), t("audit.user"), t("audit.role"), t("audit.action"), t("audit.object"), t("audit.client")],
        page.items.map((e) => [
          when(e.at),
          who(e),
          e.role ? t("role." + e.role, e.role) : "–",
          t("audit_action." + e.action, e.action),
          target(e),
          e.client,
        ]),
      ),
    );
    const last = Math.min(page.offset + page.items.length, page.total);
    $("audit-page-info").textContent = (page.total ? page.offset + 1 : 0) + "–" + last + " / " + page.total;
    $("audit-prev").disabled = page.offset === 0;
    $("audit-next").disabled = last >= page.total;
  }

  async function acknowledge(item, trigger) {
    trigger.disabled = true; // one click, one request
    try {
      await postJson("/cases/" + item.id + "/acknowledge");
    } catch (error) {
      if (error.status !== 401) reportActionError(error);
    }
    lastRendered = "";
    await refresh();
  }

  function reportActionError(error) {
    showError($("queue-error"), refusal(error));
  }

  // ------------------------------------------------------------------ resolve dialog

  function openResolve(item) {
    resolvingCase = item;
    $("resolve-household").textContent = "— " + item.household_code;
    $("resolve-note").value = "";
    showError($("resolve-error"), "");
    window.AnbuClosing.reset(item); // no outcome chosen; what the family is told appears on choosing
    $("resolve-dialog").showModal();
  }

  async function submitResolve(event) {
    event.preventDefault();
    if (!resolvingCase) return;
    const body = { code: $("resolve-code").value, note: $("resolve-note").value };
    try {
      await postJson("/cases/" + resolvingCase.id + "/resolve", body);
    } catch (error) {
      if (error.status !== 401) showError($("resolve-error"), refusal(error));
      return;
    }
    const paused = await window.AnbuClosing.afterResolve(resolvingCase.household_id);
    resolvingCase = null;
    $("resolve-dialog").close();
    lastRendered = "";
    await route();
    if (paused) showError($(location.hash.startsWith("#/cases/") ? "case-error" : "queue-error"), paused);
  }

  // ------------------------------------------------------------------ wiring

  $("login-form").addEventListener("submit", signIn);
  window.Anbu.onSessionExpired(signOut); // a 401 on any request, on any screen, signs out
  // Ends the session on the server too (every token of this user); signs out here whatever happens.
  $("logout").addEventListener("click", async () => {
    try {
      await api("/auth/logout", { method: "POST" });
    } catch (_) {
      // already signed out (401) or unreachable: the local token goes anyway
    }
    signOut();
  });
  $("resolve-form").addEventListener("submit", submitResolve);
  window.addEventListener("hashchange", route);
  // A new 긴급 case (live.js): the queue shows it at once rather than at its next refresh.
  window.addEventListener("anbu:urgent", () => {
    if ($("queue-panel").hidden) return;
    lastRendered = "";
    refresh();
  });
  // The language switch keeps the current view (a bare "?lang=en" link would drop the hash).
  const keepViewOnLanguageSwitch = () => {
    const link = document.querySelector(".lang-switch");
    link.href = link.getAttribute("href").split("#")[0] + location.hash;
  };
  window.addEventListener("hashchange", keepViewOnLanguageSwitch);
  keepViewOnLanguageSwitch();
  window.AnbuHouseholds.wireSearch();
  for (const id of ["filter-team", "filter-severity", "filter-kind", "filter-mine", "queue-sort"]) {
    $(id).addEventListener("change", () => {
      lastRendered = "";
      refresh();
    });
  }
  $("case-ack").addEventListener("click", (event) => {
    event.currentTarget.disabled = true;
    caseAction("/acknowledge").finally(() => ($("case-ack").disabled = false));
  });
  $("case-resolve").addEventListener("click", () => currentCase && openResolve(currentCase));
  $("case-note-form").addEventListener("submit", submitNote);
  $("household-pause-form").addEventListener("submit", submitPause);
  $("household-resume").addEventListener("click", () => householdAction("/resume"));
  $("household-day-prev").addEventListener("click", () => dayShown && loadDay(shiftDate(dayShown, -1)));
  $("household-day-next").addEventListener("click", () => dayShown && dayShown < dayMax && loadDay(shiftDate(dayShown, 1)));
  $("household-day-date").addEventListener("change", (event) => {
    const value = event.target.value;
    if (value && value <= dayMax) loadDay(value);
  });
  $("household-days-7").addEventListener("click", () => {
    heatmapDays = 7;
    loadHeatmap();
  });
  $("household-days-30").addEventListener("click", () => {
    heatmapDays = 30;
    loadHeatmap();
  });
  for (const id of ["audit-filter-action", "audit-filter-object"]) {
    $(id).addEventListener("change", () => {
      auditOffset = 0;
      loadAudit();
    });
  }
  $("audit-prev").addEventListener("click", () => {
    auditOffset = Math.max(0, auditOffset - AUDIT_PAGE);
    loadAudit();
  });
  $("audit-next").addEventListener("click", () => {
    auditOffset += AUDIT_PAGE;
    loadAudit();
  });
  $("resolve-cancel").addEventListener("click", () => {
    resolvingCase = null;
    $("resolve-dialog").close();
  });
  start();
})();
