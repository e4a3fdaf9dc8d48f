// Anbu dashboard, part two: management screens (#/manage/...), the reports screen (#/reports),
// assignment and field visits on the case page, check-ins and people on the household page.
// dashboard.js routes to these and calls the hooks below; everything goes through /api/v1 and
// all data is inserted with textContent. Words come from the same message catalogue.
(() => {
  "use strict";

  const API = "/api/v1";
  const TOKEN_KEY = "anbu.token";
  const M = JSON.parse(document.getElementById("messages").textContent);
  const LANG = document.documentElement.lang || "ko";
  const LOCALE = LANG === "ko" ? "ko-KR" : "en-GB";
  const PAGE = 50;
  const TABS = ["households", "devices", "teams", "users", "import", "policy"];
  const ADMIN_TABS = new Set(["users", "policy"]);
  const WEEKDAYS = ["heat.mon", "heat.tue", "heat.wed", "heat.thu", "heat.fri", "heat.sat", "heat.sun"];

  const $ = (id) => document.getElementById(id);
  const t = (key, fallback) => (key in M ? M[key] : fallback !== undefined ? fallback : key);
  let me = null;
  let householdOffset = 0;
  let householdSearch = "";
  let teamsCache = null;
  let householdEditor = null; // the create/edit form's container on the households tab

  // ------------------------------------------------------------------ helpers

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(API + path, Object.assign({}, options, { headers }));
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      const error = new Error(describe(response.status, body));
      error.status = response.status;
      error.body = body;
      throw error;
    }
    return response.status === 204 ? null : response;
  }

  const getJson = async (path) => (await api(path)).json();
  const sendJson = async (method, path, body) =>
    (
      await api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
    ).json();

  function describe(status, body) {
    if (status === 401) return t("session.expired");
    return window.AnbuErrors.describe(status, body); // codes → this page's language (errors.js)
  }

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  function button(label, className, onClick, type) {
    const b = el("button", label, "button " + className);
    b.type = type || "button";
    if (onClick) b.addEventListener("click", onClick);
    return b;
  }

  function input(name, type, value, extra) {
    const node = el("input");
    node.name = name;
    node.id = "m-" + name;
    node.type = type || "text";
    if (value !== undefined && value !== null) node.value = String(value);
    Object.assign(node, extra || {});
    return node;
  }

  function select(name, options, value) {
    const node = el("select");
    node.name = name;
    node.id = "m-" + name;
    for (const [optionValue, label] of options) {
      const option = el("option", label);
      option.value = String(optionValue);
      node.appendChild(option);
    }
    if (value !== undefined && value !== null) node.value = String(value);
    return node;
  }

  function labelled(text, control) {
    const label = el("label", text);
    label.htmlFor = control.id;
    const wrap = el("div", null, "field");
    wrap.append(label, control);
    return wrap;
  }

  // Which API field (a 422 problem's path without "body") each form control edits, by control
  // name, so a server-side problem is shown next to its control as well as in the summary.
  const FORM_FIELDS = {
    code: "code",
    team_id: "team_id",
    timezone: "timezone",
    address: "address",
    quiet_hours: "quiet_hours",
    resident_name: "resident.name",
    resident_phone: "resident.phone",
    team_name: "name",
    organisation_id: "organisation_id",
    new_username: "username",
    new_password: "password",
    display_name: "display_name",
    role: "role",
    user_team_id: "team_id",
    user_phone: "phone",
    visited_at: "visited_at",
    checkin_time: "local_time",
    contact_name: "name",
    contact_relation: "relation",
    contact_phone: "phone",
    contact_tier: "tier",
    contact_channel: "preferred_channel",
    resident_add_name: "name",
    resident_add_phone: "phone",
  };

  function clearFieldProblems(node) {
    for (const slot of node.querySelectorAll(".field-error")) slot.remove();
    for (const control of node.querySelectorAll("[aria-invalid]")) {
      control.removeAttribute("aria-invalid");
      control.removeAttribute("aria-describedby");
    }
  }

  // Puts each 422 problem after the control it is about; returns the first such control.
  function placeFieldProblems(node, body) {
    let first = null;
    for (const problem of window.AnbuErrors.problems(body)) {
      const key = problem.path.join(".");
      const control = [...node.elements].find((c) => c.name && FORM_FIELDS[c.name] === key);
      if (!control) continue;
      const slot = el("span", problem.text, "field-error");
      slot.id = control.id + "-problem";
      control.insertAdjacentElement("afterend", slot);
      control.setAttribute("aria-invalid", "true");
      control.setAttribute("aria-describedby", slot.id);
      first = first || control;
    }
    return first;
  }

  function form(id, fields, submitLabel, onSubmit) {
    const node = el("form", null, "manage-form");
    node.id = id;
    node.append(...fields);
    const error = el("p", null, "error");
    error.setAttribute("role", "alert");
    error.hidden = true;
    node.append(error, button(submitLabel, "button-primary", null, "submit"));
    node.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.hidden = true;
      clearFieldProblems(node);
      try {
        await onSubmit(node);
      } catch (e) {
        error.textContent = t("action.failed") + ": " + e.message;
        error.hidden = false;
        const first = e.status === 422 ? placeFieldProblems(node, e.body) : null;
        if (first) first.focus();
      }
    });
    return node;
  }

  function table(headers, rows) {
    if (rows.length === 0) return el("p", t("none"), "muted");
    const tableEl = el("table", null, "queue");
    const head = el("tr");
    for (const h of headers) head.appendChild(el("th", h));
    const thead = el("thead");
    thead.appendChild(head);
    const tbody = el("tbody");
    for (const row of rows) {
      const tr = el("tr");
      for (const value of row) {
        const td = el("td");
        if (value instanceof Node) td.appendChild(value);
        else td.textContent = value === null || value === undefined || value === "" ? "–" : String(value);
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    tableEl.append(thead, tbody);
    return tableEl;
  }

  function link(href, text) {
    const a = el("a", text);
    a.href = href;
    return a;
  }

  function when(iso, timeZone) {
    if (!iso) return "–";
    try {
      return new Intl.DateTimeFormat(LOCALE, {
        timeZone: timeZone || undefined,
        year: "numeric",
        month: "short",
        day: "numeric",
        hour: "2-digit",
        minute: "2-digit",
      }).format(new Date(iso));
    } catch (_) {
      return iso;
    }
  }

  function notice(text) {
    const node = $("manage-notice");
    node.textContent = text || "";
    node.hidden = !text;
  }

  function fail(id, error) {
    const node = $(id);
    node.textContent = error ? t("action.failed") + ": " + error.message : "";
    node.hidden = !error;
  }

  async function teams() {
    if (!teamsCache) teamsCache = (await getJson("/teams")).items;
    return teamsCache;
  }

  const teamName = (list, id) => (list.find((x) => x.id === id) || { name: "#" + id }).name;
  const canManage = () => me && (me.role === "admin" || me.role === "caseworker");

  // ------------------------------------------------------------------ management: routing

  async function loadManage(hash, user) {
    me = user;
    teamsCache = null;
    notice("");
    fail("manage-error", null);
    const tab = (hash.match(/^#\/manage\/([a-z]+)/) || [])[1] || "households";
    const allowed = TABS.filter((name) => !ADMIN_TABS.has(name) || me.role === "admin");
    const current = allowed.includes(tab) ? tab : "households";
    $("manage-tabs").replaceChildren(
      ...allowed.map((name) => {
        const a = link("#/manage/" + name, t("manage.tab." + name));
        a.id = "manage-tab-" + name;
        if (name === current) a.setAttribute("aria-current", "page");
        return a;
      }),
    );
    const body = $("manage-body");
    body.replaceChildren();
    try {
      await { households, devices, teams: teamsTab, users, import: importTab, policy }[current](body);
    } catch (error) {
      fail("manage-error", error);
    }
  }

  // ------------------------------------------------------------------ households

  async function households(body) {
    const list = await teams();
    const query = new URLSearchParams({ limit: String(PAGE), offset: String(householdOffset) });
    if (householdSearch) query.set("code", householdSearch);
    const page = await getJson("/households?" + query.toString());
    const search = input("search", "search", householdSearch, { placeholder: t("manage.code"), maxLength: 40 });
    search.setAttribute("aria-label", t("manage.search") + ": " + t("manage.code"));
    const searchForm = el("form", null, "inline-form");
    searchForm.append(search, button(t("manage.search"), "button-secondary", null, "submit"));
    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      householdSearch = search.value.trim();
      householdOffset = 0;
      body.replaceChildren();
      households(body).catch((error) => fail("manage-error", error));
    });
    const rows = page.items.map((h) => [
      link("#/households/" + h.id, h.code),
      teamName(list, h.team_id),
      h.monitoring === "paused" ? t("household.paused") : t("household.active"),
      h.watch_status ? t("watch." + h.watch_status, h.watch_status) : null,
      String(h.open_cases),
      button(t("action.edit"), "button-quiet", () => editHousehold(h.id)),
    ]);
    const pager = el("p", null, "pager");
    const last = Math.min(page.offset + page.items.length, page.total);
    const prev = button(t("manage.prev"), "button-quiet", () => {
      householdOffset = Math.max(0, householdOffset - PAGE);
      households(body.replaceChildren() || body);
    });
    const next = button(t("manage.next"), "button-quiet", () => {
      householdOffset += PAGE;
      households(body.replaceChildren() || body);
    });
    prev.disabled = page.offset === 0;
    next.disabled = last >= page.total;
    pager.append(prev, el("span", (page.total ? page.offset + 1 : 0) + "–" + last + " / " + page.total), next);
    const editor = el("div");
    householdEditor = editor;
    body.append(
      el("h2", t("manage.households")),
      searchForm,
      table(
        [t("col.household"), t("filter.team"), t("household.monitoring"), t("household.watch"), t("manage.open_cases"), ""],
        rows,
      ),
      pager,
      editor,
    );
    householdForm(editor, null, list);
  }

  async function editHousehold(id) {
    const detail = await getJson("/households/" + id);
    householdForm(householdEditor, detail, await teams());
    householdEditor.scrollIntoView();
  }

  function householdForm(container, existing, list) {
    const teamOptions = list.map((x) => [x.id, x.name]);
    const fields = [
      labelled(t("manage.code"), input("code", "text", existing ? existing.code : "", { required: true, maxLength: 40 })),
      labelled(t("filter.team"), select("team_id", teamOptions, existing ? existing.team_id : me.team_id)),
      labelled(t("household.timezone"), input("timezone", "text", existing ? existing.timezone : "Asia/Seoul")),
      labelled(t("manage.address"), input("address", "text", existing ? existing.address || "" : "")),
      labelled(
        t("manage.quiet_hours"),
        input("quiet_hours", "number", existing ? existing.quiet_hours : "", { min: 1, max: 72, step: 0.5 }),
      ),
    ];
    if (!existing) {
      fields.push(
        labelled(t("manage.resident_name"), input("resident_name", "text", "", { maxLength: 200 })),
        labelled(t("manage.resident_phone"), input("resident_phone", "tel", "", { placeholder: "+8210…" })),
      );
    }
    const heading = el("h2", existing ? t("manage.edit_household") + " " + existing.code : t("manage.new_household"));
    const node = form("household-form", fields, existing ? t("action.save") : t("action.create"), async (f) => {
      const body = {
        code: f.code.value.trim(),
        team_id: Number(f.team_id.value),
        timezone: f.timezone.value.trim(),
        address: f.address.value,
        quiet_hours: f.quiet_hours.value ? Number(f.quiet_hours.value) : null,
      };
      let saved;
      if (existing) {
        saved = await sendJson("PATCH", "/households/" + existing.id, body);
      } else {
        if (f.resident_name.value.trim()) {
          body.resident = { name: f.resident_name.value.trim(), phone: f.resident_phone.value.trim() || null };
        }
        saved = await sendJson("POST", "/households", body);
      }
      notice(t("manage.saved") + ": " + saved.code);
      location.hash = "#/households/" + saved.id;
    });
    container.replaceChildren(heading, node);
  }

  // ------------------------------------------------------------------ devices

  async function devices(body) {
    const [pending, homes] = await Promise.all([getJson("/devices/pending"), getJson("/households?limit=200")]);
    const options = homes.items.map((h) => [h.id, h.code]);
    const rows = pending.items.map((d) => {
      const holder = el("div", null, "inline-form");
      const pick = select("household_" + d.id, options);
      const appliance = input("appliance_" + d.id, "text", "", { placeholder: t("col.appliance"), maxLength: 60 });
      appliance.setAttribute("list", "appliance-options"); // known names; "aggregate" = whole-house meter
      pick.setAttribute("aria-label", t("field.household_id") + " — " + d.external_id);
      appliance.setAttribute("aria-label", t("col.appliance") + " — " + d.external_id);
      holder.append(
        pick,
        appliance,
        button(t("action.assign"), "button-secondary", async () => {
          try {
            await sendJson("POST", "/devices/" + d.id + "/assign", {
              household_id: Number(pick.value),
              appliance: appliance.value.trim(),
            });
            notice(t("manage.saved"));
            await loadManage("#/manage/devices", me);
          } catch (error) {
            fail("manage-error", error);
          }
        }),
      );
      return [d.vendor + ":" + d.external_id, when(d.last_seen_at), d.last_power_w === null ? null : d.last_power_w + " W", holder];
    });
    body.append(
      el("h2", t("manage.pending_devices")),
      el("p", t("manage.pending_help"), "muted"),
      table([t("col.device"), t("manage.last_heard"), t("col.last_reading"), t("action.assign")], rows),
    );
  }

  // ------------------------------------------------------------------ teams

  async function teamsTab(body) {
    const list = await teams();
    const isAdmin = me.role === "admin";
    // Members are staff personal data: loaded (and recorded in the audit log) only when asked for.
    const rows = list.map((team) => {
      const nameCell = el("div", null, "team-name");
      nameCell.id = "team-name-" + team.id;
      showTeamName(nameCell, team, isAdmin);
      const membersCell = el("div");
      const region = el("div", null, "team-members");
      region.id = "team-members-" + team.id;
      region.hidden = true;
      const toggle = button(t("manage.show_members"), "button-quiet", async () => {
        const open = toggle.getAttribute("aria-expanded") === "true";
        toggle.setAttribute("aria-expanded", String(!open));
        toggle.textContent = open ? t("manage.show_members") : t("manage.hide_members");
        region.hidden = open;
        if (!open) await showMembers(region, team, isAdmin);
      });
      toggle.id = "team-members-toggle-" + team.id;
      toggle.setAttribute("aria-expanded", "false");
      toggle.setAttribute("aria-controls", region.id);
      membersCell.append(toggle, region);
      return [nameCell, membersCell];
    });
    body.append(el("h2", t("manage.teams")), table([t("manage.team_name"), t("manage.members")], rows));
    if (!isAdmin) return;
    const orgs = (await getJson("/organisations")).items;
    body.append(
      el("h2", t("manage.new_team")),
      form(
        "team-form",
        [
          labelled(t("manage.team_name"), input("team_name", "text", "", { required: true, maxLength: 200 })),
          labelled(t("manage.organisation"), select("organisation_id", orgs.map((o) => [o.id, o.name]))),
        ],
        t("action.create"),
        async (f) => {
          await sendJson("POST", "/teams", { name: f.team_name.value.trim(), organisation_id: Number(f.organisation_id.value) });
          await loadManage("#/manage/teams", me);
          notice(t("manage.saved"));
        },
      ),
    );
  }

  function showTeamName(cell, team, isAdmin) {
    cell.replaceChildren(el("span", team.name));
    if (!isAdmin) return;
    const rename = button(t("action.rename"), "button-quiet", () => renameForm(cell, team));
    rename.id = "team-rename-" + team.id;
    rename.setAttribute("aria-label", t("manage.rename_team").replace("%name%", team.name));
    cell.append(" ", rename);
  }

  // Rename in place: Enter saves, Escape or Cancel puts the name back; focus returns to the button.
  function renameForm(cell, team) {
    const node = el("form", null, "inline-form");
    node.id = "team-rename-form-" + team.id;
    const name = input("team_rename_" + team.id, "text", team.name, { required: true, maxLength: 200 });
    const label = el("label", t("manage.team_name"), "visually-hidden");
    label.htmlFor = name.id;
    const problem = el("span", null, "field-error");
    problem.id = name.id + "-problem";
    problem.setAttribute("role", "alert");
    problem.hidden = true;
    const back = () => {
      showTeamName(cell, team, true);
      $("team-rename-" + team.id).focus();
    };
    const cancel = button(t("action.cancel"), "button-quiet", back);
    node.append(label, name, button(t("action.save"), "button-primary", null, "submit"), cancel, problem);
    node.addEventListener("keydown", (event) => {
      if (event.key === "Escape") back();
    });
    node.addEventListener("submit", async (event) => {
      event.preventDefault();
      problem.hidden = true;
      name.removeAttribute("aria-invalid");
      try {
        const saved = await sendJson("PATCH", "/teams/" + team.id, { name: name.value.trim() });
        team.name = saved.name;
        teamsCache = null;
        notice(t("manage.saved") + ": " + saved.name);
        back();
      } catch (error) {
        problem.textContent = error.message;
        problem.hidden = false;
        name.setAttribute("aria-invalid", "true");
        name.setAttribute("aria-describedby", problem.id);
        name.focus();
      }
    });
    cell.replaceChildren(node);
    name.focus();
    name.select();
  }

  async function showMembers(region, team, isAdmin) {
    region.replaceChildren(el("p", t("queue.loading"), "muted"));
    let members;
    try {
      members = (await getJson("/teams/" + team.id + "/members")).items;
    } catch (error) {
      region.replaceChildren(el("p", t("action.failed") + ": " + error.message, "error"));
      return;
    }
    const listEl = el("ul", null, "members");
    for (const m of members) {
      listEl.append(el("li", (m.display_name ? m.display_name + " (" + m.username + ")" : m.username) + " · " + t("role." + m.role, m.role)));
    }
    region.replaceChildren(members.length ? listEl : el("p", t("none"), "muted"));
    if (!isAdmin) return;
    // Admins move a staff member into this team (a caseworker belongs to exactly one team).
    const staff = (await getJson("/users?active=true&limit=200")).items.filter(
      (u) => u.team_id !== team.id && (u.role === "caseworker" || u.role === "admin"),
    );
    if (staff.length === 0) return;
    const pick = select(
      "team_add_" + team.id,
      staff.map((u) => [u.id, (u.display_name || u.username) + " (" + u.username + ", " + t("role." + u.role, u.role) + ")"]),
    );
    const node = form(
      "team-add-form-" + team.id,
      [labelled(t("manage.move_into_team"), pick)],
      t("manage.move_member"),
      async () => {
        await sendJson("PATCH", "/users/" + pick.value, { team_id: team.id });
        notice(t("manage.saved"));
        await showMembers(region, team, isAdmin);
        $("team-members-toggle-" + team.id).focus();
      },
    );
    node.className = "manage-form compact";
    region.append(node);
  }

  // ------------------------------------------------------------------ users (admin)

  async function users(body) {
    const [list, page] = await Promise.all([teams(), getJson("/users?limit=200")]);
    const rows = page.items.map((u) => [
      u.username,
      u.display_name,
      t("role." + u.role, u.role),
      u.team_id ? teamName(list, u.team_id) : null,
      u.is_active ? t("manage.active") : t("manage.inactive"),
      u.id === me.id
        ? ""
        : button(u.is_active ? t("action.deactivate") : t("action.reactivate"), "button-quiet", async () => {
            try {
              await sendJson("PATCH", "/users/" + u.id, { is_active: !u.is_active });
              await loadManage("#/manage/users", me);
            } catch (error) {
              fail("manage-error", error);
            }
          }),
    ]);
    const roles = ["caseworker", "control_room", "admin"].map((r) => [r, t("role." + r, r)]);
    body.append(
      el("h2", t("manage.users")),
      table([t("login.username"), t("col.name"), t("audit.role"), t("filter.team"), t("col.status"), ""], rows),
      el("h2", t("manage.new_user")),
      form(
        "user-form",
        [
          labelled(t("login.username"), input("new_username", "text", "", { required: true, autocomplete: "off" })),
          labelled(t("login.password"), input("new_password", "password", "", { required: true, minLength: 8, autocomplete: "new-password" })),
          labelled(t("col.name"), input("display_name", "text", "")),
          labelled(t("audit.role"), select("role", roles)),
          labelled(t("filter.team"), select("user_team_id", [["", "–"], ...list.map((x) => [x.id, x.name])])),
          labelled(t("col.phone"), input("user_phone", "tel", "", { placeholder: "+8210…" })),
        ],
        t("action.create"),
        async (f) => {
          await sendJson("POST", "/users", {
            username: f.new_username.value.trim().toLowerCase(),
            password: f.new_password.value,
            display_name: f.display_name.value.trim(),
            role: f.role.value,
            team_id: f.user_team_id.value ? Number(f.user_team_id.value) : null,
            phone: f.user_phone.value.trim() || null,
          });
          await loadManage("#/manage/users", me);
          notice(t("manage.saved"));
        },
      ),
    );
  }

  // ------------------------------------------------------------------ CSV import

  function importTab(body) {
    body.append(el("h2", t("manage.import")), el("p", t("manage.import_help"), "muted"));
    for (const kind of ["households", "contacts"]) {
      const report = el("div", null, "import-report");
      report.id = "import-report-" + kind;
      const file = input("file_" + kind, "file", null, { accept: ".csv,text/csv", required: true });
      const dry = input("dry_" + kind, "checkbox", null, { checked: true });
      const f = form(
        "import-form-" + kind,
        [
          el("h3", t("manage.import_" + kind)),
          el("p", t("manage.import_columns_" + kind), "muted code"),
          labelled(t("manage.file"), file),
          labelled(t("manage.dry_run"), dry),
        ],
        t("action.upload"),
        async () => {
          const data = new FormData();
          data.append("file", file.files[0]);
          let result;
          try {
            result = await (await api("/import/" + kind + "?dry_run=" + dry.checked, { method: "POST", body: data })).json();
          } catch (error) {
            if (!error.body || !Array.isArray(error.body.errors)) throw error;
            result = error.body;
          }
          showImport(report, result);
        },
      );
      body.append(f, report);
    }
  }

  function showImport(container, result) {
    const summary = result.errors.length
      ? t("manage.import_rejected").replace("N", String(result.errors.length))
      : result.dry_run
        ? t("manage.import_checked").replace("N", String(result.rows))
        : t("manage.import_done").replace("N", String(result.created));
    container.replaceChildren(
      el("p", summary, result.errors.length ? "error" : "ok"),
      table(
        [t("manage.row"), t("manage.column"), t("manage.problem")],
        result.errors.map((e) => [String(e.row), e.column, window.AnbuErrors.rowProblem(e)]),
      ),
    );
  }

  // ------------------------------------------------------------------ escalation policy (admin)
  // A form over the policy model (notifier/policy.py): ordered steps, repeating, emergency
  // messages, quiet hours, daily limits, reminders and the pre-call text. The server validates
  // with the engine's own model; each 422 problem is shown next to the control it is about
  // (controls carry data-path = the problem's path, e.g. "steps.1.wait_minutes").

  const STEP_KINDS = ["call_resident", "notify_family", "notify_caseworker"];
  const EMERGENCY_KINDS = ["notify_caseworker", "notify_family"];
  const POLICY_LIMITS = { wait: [1, 1440], tier: [1, 9], repeats: [0, 20], ack: [15, 10080], calls: [1, 100], sms: [1, 500] };

  async function policy(body) {
    const orgs = (await getJson("/organisations")).items;
    if (orgs.length === 0) {
      body.append(el("p", t("none"), "muted"));
      return;
    }
    const pick = select("policy_org", orgs.map((o) => [o.id, o.name]));
    const view = el("div");
    body.append(el("h2", t("manage.policy")), el("p", t("manage.policy_help"), "muted"), labelled(t("manage.organisation"), pick), view);
    const show = async (focusStatus) => {
      const current = await getJson("/organisations/" + pick.value + "/escalation-policy");
      policyEditor(view, pick.value, current, show);
      if (focusStatus) document.getElementById("policy-status").focus(); // created by policyEditor
    };
    pick.addEventListener("change", () => show(false).catch((error) => fail("manage-error", error)));
    await show(false);
  }

  const numberOrNull = (value) => (String(value).trim() === "" ? null : Number(value));

  function numberInput(id, value, [min, max], path) {
    const node = input(id, "number", value, { min, max, step: 1 });
    node.dataset.path = path;
    return node;
  }

  // A labelled control with a slot for its server-side problem (linked by aria-describedby).
  function policyField(labelText, control, className) {
    const wrap = labelled(labelText, control);
    if (className) wrap.className += " " + className;
    const problem = el("span", null, "field-error");
    problem.id = control.id + "-problem";
    problem.hidden = true;
    wrap.appendChild(problem);
    return wrap;
  }

  function policyEditor(view, orgId, current, reload) {
    // The draft is the policy being edited; structural changes (add/move/remove) re-render from it.
    const draft = JSON.parse(JSON.stringify(current.policy));
    const formEl = el("form", null, "manage-form policy-form");
    formEl.id = "policy-form";
    formEl.noValidate = true; // the engine's model on the server is the one judge; its answers are shown per field
    const stepsBox = el("ol", null, "policy-steps");
    stepsBox.id = "policy-steps";
    const emergencyBox = el("ul", null, "policy-steps");
    emergencyBox.id = "policy-emergency";
    const summary = el("p", null, "error");
    summary.id = "policy-problems";
    summary.setAttribute("role", "alert");
    summary.hidden = true;

    const repeatFrom = select("policy_repeat_from", []);
    repeatFrom.dataset.path = "repeat_from";
    const maxRepeats = numberInput("policy_max_repeats", draft.max_repeats, POLICY_LIMITS.repeats, "max_repeats");

    function readSteps() {
      draft.steps = [...stepsBox.querySelectorAll("li")].map((li, i) => {
        const step = { action: $("m-policy_step_" + i + "_action").value, wait_minutes: numberOrNull($("m-policy_step_" + i + "_wait").value) };
        if (step.action === "notify_family") step.tier = numberOrNull($("m-policy_step_" + i + "_tier").value);
        return step;
      });
      draft.emergency = [...emergencyBox.querySelectorAll("li")].map((li, i) => {
        const item = { action: $("m-policy_emergency_" + i + "_action").value };
        if (item.action === "notify_family") item.tier = numberOrNull($("m-policy_emergency_" + i + "_tier").value);
        return item;
      });
      draft.repeat_from = repeatFrom.value === "" ? null : Number(repeatFrom.value);
    }

    // A structural button; afterwards focus goes to focusId (the moved step's same button) or,
    // when that is gone or disabled, to the "add" button, so keyboard users keep their place.
    function stepButton(label, id, focusId, onClick, disabled) {
      const b = button(label, "button-quiet", () => {
        readSteps();
        onClick();
        renderSteps();
        const again = $(focusId);
        (again && !again.disabled ? again : $(id.startsWith("policy-emergency") ? "policy-add-emergency" : "policy-add-step")).focus();
      });
      b.id = id;
      b.disabled = Boolean(disabled);
      return b;
    }

    function kindRow(prefix, i, item, kinds, path) {
      const kind = select(prefix + i + "_action", kinds.map((k) => [k, t("policy.action." + k)]), item.action);
      kind.dataset.path = path + "." + i + ".action";
      const tier = numberInput(prefix + i + "_tier", item.tier || 1, POLICY_LIMITS.tier, path + "." + i + ".tier");
      const tierField = policyField(t("policy.tier"), tier, "policy-tier");
      tierField.hidden = kind.value !== "notify_family";
      kind.addEventListener("change", () => (tierField.hidden = kind.value !== "notify_family"));
      return [policyField(t("field.action"), kind), tierField];
    }

    function renderSteps() {
      const n = draft.steps.length;
      stepsBox.replaceChildren(
        ...draft.steps.map((step, i) => {
          const li = el("li", null, "policy-step");
          li.dataset.path = "steps." + i;
          li.setAttribute("aria-label", t("policy.step_n").replace("N", String(i + 1)));
          const wait = numberInput("policy_step_" + i + "_wait", step.wait_minutes, POLICY_LIMITS.wait, "steps." + i + ".wait_minutes");
          const moves = el("div", null, "policy-step-buttons");
          const named = (key) => t(key).replace("N", String(i + 1));
          const move = (to) => () => {
            draft.steps.splice(to, 0, draft.steps.splice(i, 1)[0]);
            follow(i, to);
          };
          const up = stepButton(t("policy.move_up"), "policy-step-up-" + i, "policy-step-up-" + (i - 1), move(i - 1), i === 0);
          const down = stepButton(t("policy.move_down"), "policy-step-down-" + i, "policy-step-down-" + (i + 1), move(i + 1), i === n - 1);
          const remove = stepButton(t("policy.remove"), "policy-step-remove-" + i, "policy-step-remove-" + i, () => removeStep(i), n === 1);
          up.setAttribute("aria-label", named("policy.move_up_n"));
          down.setAttribute("aria-label", named("policy.move_down_n"));
          remove.setAttribute("aria-label", named("policy.remove_n"));
          moves.append(up, down, remove);
          li.append(
            el("span", String(i + 1), "policy-step-number"),
            ...kindRow("policy_step_", i, step, STEP_KINDS, "steps"),
            policyField(t("policy.wait"), wait),
            moves,
          );
          return li;
        }),
      );
      const keep = draft.repeat_from;
      repeatFrom.replaceChildren(
        ...[["", t("policy.repeat_none")], ...draft.steps.map((_, i) => [i, t("policy.step_n").replace("N", String(i + 1))])].map(([value, label]) => {
          const option = el("option", label);
          option.value = String(value);
          return option;
        }),
      );
      repeatFrom.value = keep === null || keep === undefined || keep >= n ? "" : String(keep);
      emergencyBox.replaceChildren(
        ...draft.emergency.map((item, i) => {
          const li = el("li", null, "policy-step");
          li.dataset.path = "emergency." + i;
          const remove = stepButton(
            t("policy.remove"),
            "policy-emergency-remove-" + i,
            "policy-emergency-remove-" + i,
            () => draft.emergency.splice(i, 1),
            draft.emergency.length === 1,
          );
          remove.setAttribute("aria-label", t("policy.remove_emergency_n").replace("N", String(i + 1)));
          li.append(el("span", String(i + 1), "policy-step-number"), ...kindRow("policy_emergency_", i, item, EMERGENCY_KINDS, "emergency"), remove);
          return li;
        }),
      );
    }

    // repeat_from points at a step: it follows that step when steps move or go.
    function follow(from, to) {
      if (draft.repeat_from === from) draft.repeat_from = to;
      else if (draft.repeat_from === to) draft.repeat_from = from;
    }

    function removeStep(i) {
      draft.steps.splice(i, 1);
      if (draft.repeat_from !== null && draft.repeat_from !== undefined) {
        if (draft.repeat_from > i) draft.repeat_from -= 1;
        else if (draft.repeat_from === i) draft.repeat_from = null;
      }
    }

    const addStep = button(t("policy.add_step"), "button-secondary", () => {
      readSteps();
      draft.steps.push({ action: "notify_caseworker", wait_minutes: 15 });
      renderSteps();
      $("m-policy_step_" + (draft.steps.length - 1) + "_action").focus();
    });
    addStep.id = "policy-add-step";
    const addEmergency = button(t("policy.add_emergency"), "button-secondary", () => {
      readSteps();
      draft.emergency.push({ action: "notify_family", tier: 1 });
      renderSteps();
      $("m-policy_emergency_" + (draft.emergency.length - 1) + "_action").focus();
    });
    addEmergency.id = "policy-add-emergency";

    const quiet = draft.quiet_hours;
    const quietOn = input("policy_quiet_on", "checkbox", null, { checked: Boolean(quiet) });
    quietOn.dataset.path = "quiet_hours";
    const quietStart = input("policy_quiet_start", "time", quiet ? quiet.start : "21:00");
    quietStart.dataset.path = "quiet_hours.start";
    const quietEnd = input("policy_quiet_end", "time", quiet ? quiet.end : "08:00");
    quietEnd.dataset.path = "quiet_hours.end";
    const quietMode = select("policy_quiet_mode", ["skip", "defer"].map((m) => [m, t("policy.quiet_mode." + m)]), quiet ? quiet.mode : "skip");
    quietMode.dataset.path = "quiet_hours.mode";
    const quietFields = el("div", null, "policy-quiet");
    quietFields.append(policyField(t("field.start"), quietStart), policyField(t("field.end"), quietEnd), policyField(t("field.mode"), quietMode));
    const syncQuiet = () => {
      for (const control of [quietStart, quietEnd, quietMode]) control.disabled = !quietOn.checked;
    };
    quietOn.addEventListener("change", syncQuiet);
    syncQuiet();

    const calls = numberInput("policy_calls_per_day", draft.limits.calls_per_household_per_day, POLICY_LIMITS.calls, "limits.calls_per_household_per_day");
    const sms = numberInput("policy_sms_per_day", draft.limits.family_sms_per_household_per_day, POLICY_LIMITS.sms, "limits.family_sms_per_household_per_day");
    const ack = numberInput("policy_ack_reminder", draft.ack_reminder_minutes, POLICY_LIMITS.ack, "ack_reminder_minutes");
    const preCall = input("policy_pre_call_sms", "checkbox", null, { checked: Boolean(draft.pre_call_sms) });
    preCall.dataset.path = "pre_call_sms";

    const fieldset = (legend, help, ...children) => {
      const node = el("fieldset", null, "policy-section");
      node.append(el("legend", legend));
      if (help) node.append(el("p", help, "muted"));
      node.append(...children);
      return node;
    };
    const checkField = (text, control) => {
      const label = el("label", null, "check");
      label.htmlFor = control.id;
      label.append(control, document.createTextNode(" " + text));
      const wrap = el("div", null, "field check-field");
      const problem = el("span", null, "field-error");
      problem.id = control.id + "-problem";
      problem.hidden = true;
      wrap.append(label, problem);
      return wrap;
    };

    const save = button(t("action.save"), "button-primary", null, "submit");
    save.id = "policy-save";
    const reset = button(t("manage.policy_reset"), "button-quiet", async () => {
      try {
        await sendJson("PUT", "/organisations/" + orgId + "/escalation-policy", { policy: null });
        notice(t("manage.policy_saved"));
        await reload(true);
      } catch (error) {
        fail("manage-error", error);
      }
    });
    reset.id = "policy-reset";
    const buttons = el("div", null, "inline-form");
    buttons.append(save, reset);

    formEl.append(
      fieldset(t("policy.steps_heading"), t("policy.steps_help"), stepsBox, addStep),
      fieldset(
        t("policy.repeat_heading"),
        t("policy.repeat_help"),
        policyField(t("field.repeat_from"), repeatFrom),
        policyField(t("field.max_repeats"), maxRepeats),
      ),
      fieldset(t("policy.emergency_heading"), t("policy.emergency_help"), emergencyBox, addEmergency),
      fieldset(t("policy.quiet_heading"), t("policy.quiet_help"), checkField(t("policy.quiet_on"), quietOn), quietFields),
      fieldset(t("policy.limits_heading"), t("policy.limits_help"), policyField(t("field.calls_per_household_per_day"), calls), policyField(t("field.family_sms_per_household_per_day"), sms)),
      fieldset(
        t("policy.reminders_heading"),
        null,
        policyField(t("field.ack_reminder_minutes"), ack),
        checkField(t("policy.pre_call_sms"), preCall),
      ),
      summary,
      buttons,
    );

    function clearProblems() {
      summary.hidden = true;
      summary.replaceChildren();
      for (const node of formEl.querySelectorAll(".field-error")) {
        node.hidden = true;
        node.textContent = "";
      }
      for (const node of formEl.querySelectorAll("[aria-invalid]")) {
        node.removeAttribute("aria-invalid");
        node.removeAttribute("aria-describedby");
      }
    }

    // Put each problem next to its control: the longest data-path that prefixes the problem's path.
    function showProblems(list) {
      const unplaced = [];
      let first = null;
      for (const problem of list) {
        const path = problem.path[0] === "policy" ? problem.path.slice(1) : problem.path;
        let target = null;
        for (let n = path.length; n > 0 && !target; n--) {
          const key = path.slice(0, n).join(".");
          target = formEl.querySelector('[data-path="' + CSS.escape(key) + '"]');
        }
        const slot = target && target.id ? $(target.id + "-problem") : null;
        if (!slot) {
          unplaced.push((problem.field ? problem.field + ": " : "") + problem.text);
          continue;
        }
        slot.textContent = (slot.textContent ? slot.textContent + " · " : "") + problem.text;
        slot.hidden = false;
        target.setAttribute("aria-invalid", "true");
        target.setAttribute("aria-describedby", slot.id);
        first = first || target;
      }
      summary.append(el("span", t("policy.not_saved")));
      for (const text of unplaced) summary.append(el("br"), el("span", text));
      summary.hidden = false;
      (first || summary).focus();
    }

    formEl.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearProblems();
      readSteps();
      const document_ = {
        steps: draft.steps,
        repeat_from: draft.repeat_from,
        max_repeats: numberOrNull(maxRepeats.value),
        emergency: draft.emergency,
        ack_reminder_minutes: numberOrNull(ack.value),
        quiet_hours: quietOn.checked ? { start: quietStart.value, end: quietEnd.value, mode: quietMode.value } : null,
        limits: { calls_per_household_per_day: numberOrNull(calls.value), family_sms_per_household_per_day: numberOrNull(sms.value) },
        pre_call_sms: preCall.checked,
      };
      try {
        await sendJson("PUT", "/organisations/" + orgId + "/escalation-policy", { policy: document_ });
      } catch (error) {
        const list = window.AnbuErrors.problems(error.body);
        if (error.status !== 422 || list.length === 0) {
          summary.textContent = t("action.failed") + ": " + error.message;
          summary.hidden = false;
          return;
        }
        showProblems(list);
        return;
      }
      notice(t("manage.policy_saved"));
      await reload(true);
    });

    const status = el("p", current.is_default ? t("manage.policy_default") : t("manage.policy_custom"), "muted");
    status.id = "policy-status";
    status.tabIndex = -1;
    const json = el("details", null, "policy-json-view");
    json.append(el("summary", t("policy.json_view")), el("pre", JSON.stringify(current.policy, null, 2), "policy-json"));
    view.replaceChildren(status, formEl, json);
    renderSteps();
  }

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

  // ------------------------------------------------------------------ case page: assignment, field visit

  async function caseLoaded(item, user) {
    me = user;
    const box = $("case-extra");
    box.replaceChildren();
    const assigned = el("p", null, "assigned");
    assigned.id = "case-assigned";
    assigned.append(el("strong", t("case.assigned_to") + ": "), item.assigned_username || t("case.unassigned"));
    box.append(assigned);
    if (!canManage()) return;
    const active = item.status === "open" || item.status === "acknowledged";
    if (active && item.household_team_id) {
      // Ids and names only (not /teams/{id}/members, which is a personal-data view and audited).
      let members = [];
      try {
        members = (await getJson("/cases/" + item.id + "/assignees")).items;
      } catch (_) {
        members = [];
      }
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

  // ------------------------------------------------------------------ household page: check-ins, people

  // The latest check-in that was skipped or held (notifier/checkins.py), or nothing.
  function lastSkip(skip, timezone) {
    const line = el("p", null, "checkin-skip");
    line.id = "checkin-last-skip";
    if (!skip) {
      line.hidden = true;
      return line;
    }
    const held = skip.reason === "quiet_hours";
    line.append(
      el("strong", t(held ? "checkin.last_held" : "checkin.last_skipped") + ": "),
      when(skip.slot, timezone) + " — " + t("checkin.skip." + skip.reason, skip.reason),
    );
    if (held && skip.until) line.append(" (" + t("checkin.held_until") + " " + when(skip.until, timezone) + ")");
    line.append(el("span", " · " + t("checkin.decided_at") + " " + when(skip.at, timezone), "muted"));
    return line;
  }

  async function householdLoaded(item, user) {
    me = user;
    const box = $("household-extra");
    box.replaceChildren();
    let schedule;
    let checkins;
    try {
      [schedule, checkins] = await Promise.all([
        getJson("/households/" + item.id + "/checkin-schedule"),
        getJson("/households/" + item.id + "/checkins?limit=10&lang=" + LANG),
      ]);
    } catch (error) {
      box.append(el("p", t("action.failed") + ": " + error.message, "error"));
      return;
    }
    const answer = (c, topic) => {
      const value = c.answers[topic];
      const span = el("span", value ? t("checkin.answer." + value, value) : "–", value && value !== "ok" ? "flag flag-" + value : "");
      return span;
    };
    box.append(
      el("h2", t("checkin.heading")),
      el(
        "p",
        schedule.configured && schedule.active
          ? t("checkin.schedule") + ": " + schedule.weekdays.map((d) => t(WEEKDAYS[d - 1])).join(", ") + " " + schedule.local_time +
              " — " + t("checkin.next") + " " + when(schedule.next_due_at, item.timezone)
          : t("checkin.no_schedule"),
        "muted",
      ),
      lastSkip(schedule.last_skip, item.timezone),
      table(
        [t("col.when"), t("checkin.meals"), t("checkin.sleep"), t("checkin.health"), t("checkin.flags")],
        checkins.items.map((c) => [
          when(c.scheduled_for, item.timezone),
          answer(c, "meals"),
          answer(c, "sleep"),
          answer(c, "health"),
          c.flags.length ? el("strong", c.flags.map((f) => t("checkin.flag." + f, f)).join(", "), "flag") : c.outcome ? t("call_outcome." + c.outcome, c.outcome) : t("call_status." + c.call_status, c.call_status),
        ]),
      ),
    );
    if (!canManage()) return;
    const days = el("fieldset", null, "weekdays");
    days.appendChild(el("legend", t("checkin.days")));
    WEEKDAYS.forEach((key, i) => {
      const box2 = input("weekday_" + (i + 1), "checkbox", null, { checked: schedule.weekdays.includes(i + 1) });
      const label = el("label", t(key));
      label.prepend(box2);
      days.appendChild(label);
    });
    const at = input("checkin_time", "time", schedule.local_time, { required: true });
    const active = input("checkin_active", "checkbox", null, { checked: schedule.configured ? schedule.active : true });
    box.append(
      el("h3", t("checkin.edit")),
      form("checkin-schedule-form", [days, labelled(t("checkin.time"), at), labelled(t("checkin.active"), active)], t("action.save"), async (f) => {
        const weekdays = [1, 2, 3, 4, 5, 6, 7].filter((d) => f["weekday_" + d].checked);
        await sendJson("PUT", "/households/" + item.id + "/checkin-schedule", { weekdays, local_time: at.value, active: active.checked });
        await householdLoaded(item, me);
      }),
      el("h2", t("manage.people")),
      table(
        [t("col.role"), t("col.name"), t("col.phone"), ""],
        [
          ...item.residents.map((r) => [t("recipient.resident"), ...residentEditor(r)]),
          ...item.contacts.map((c) => [
            t("recipient.contact") + " " + c.tier,
            c.name,
            c.phone,
            deleteContact(c, box),
          ]),
        ],
      ),
      el("h2", t("manage.add_contact")),
      form(
        "contact-form",
        [
          labelled(t("col.name"), input("contact_name", "text", "", { required: true, maxLength: 200 })),
          labelled(t("manage.relation"), input("contact_relation", "text", "", { maxLength: 100 })),
          labelled(t("col.phone"), input("contact_phone", "tel", "", { required: true, placeholder: "+8210…" })),
          labelled(t("manage.tier"), input("contact_tier", "number", 1, { min: 1, max: 9 })),
          labelled(t("col.channel"), select("contact_channel", [["sms", t("channel.sms")], ["call", t("channel.call")]])),
        ],
        t("action.create"),
        async (f) => {
          await sendJson("POST", "/households/" + item.id + "/contacts", {
            name: f.contact_name.value.trim(),
            relation: f.contact_relation.value.trim(),
            phone: f.contact_phone.value.trim(),
            tier: Number(f.contact_tier.value),
            preferred_channel: f.contact_channel.value,
          });
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        },
      ),
      el("h2", t("manage.add_resident")),
      form(
        "resident-form",
        [
          labelled(t("col.name"), input("resident_add_name", "text", "", { required: true, maxLength: 200 })),
          labelled(t("col.phone"), input("resident_add_phone", "tel", "", { placeholder: "+8210…" })),
        ],
        t("action.create"),
        async (f) => {
          await sendJson("POST", "/households/" + item.id + "/residents", {
            name: f.resident_add_name.value.trim(),
            phone: f.resident_add_phone.value.trim() || null,
          });
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        },
      ),
    );
  }

  // Delete with an inline confirmation (not confirm(): it is modal, unstyled and in the
  // browser's language); Cancel or Escape returns focus to the delete button.
  function deleteContact(contact, box) {
    const holder = el("div", null, "inline-form");
    const ask = () => {
      const question = el("span", t("manage.confirm_delete_contact"));
      question.id = "contact-delete-question-" + contact.id;
      const yes = button(t("action.delete"), "button-primary", async () => {
        try {
          await api("/contacts/" + contact.id, { method: "DELETE" });
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (error) {
          box.prepend(el("p", t("action.failed") + ": " + error.message, "error"));
        }
      });
      yes.id = "contact-delete-confirm-" + contact.id;
      yes.setAttribute("aria-describedby", question.id);
      const no = button(t("action.cancel"), "button-quiet", idle);
      holder.replaceChildren(question, yes, no);
      holder.onkeydown = (event) => event.key === "Escape" && idle();
      no.focus();
    };
    const idle = () => {
      const start = button(t("action.delete"), "button-quiet", ask);
      start.id = "contact-delete-" + contact.id;
      start.setAttribute("aria-label", t("action.delete") + " — " + contact.name);
      holder.replaceChildren(start);
      holder.onkeydown = null;
      if (holder.isConnected) start.focus();
    };
    idle();
    return holder;
  }

  // A resident's name and phone, changed in place (PATCH sends only these two fields). Three
  // table cells — name, phone, save — joined into one form by the inputs' form attribute, so the
  // phone sits under the phone heading.
  function residentEditor(resident) {
    const holder = el("form", null, "inline-form");
    holder.id = "resident-form-" + resident.id;
    const name = input("resident_name_" + resident.id, "text", resident.name, { required: true, maxLength: 200 });
    const phone = input("resident_phone_" + resident.id, "tel", resident.phone || "", { placeholder: "+8210…" });
    const save = button(t("action.save"), "button-quiet", null, "submit");
    name.setAttribute("aria-label", t("col.name") + " — " + t("recipient.resident"));
    phone.setAttribute("aria-label", t("col.phone") + " — " + t("recipient.resident"));
    for (const control of [phone, save]) control.setAttribute("form", holder.id);
    holder.append(name);
    holder.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await sendJson("PATCH", "/residents/" + resident.id, { name: name.value.trim(), phone: phone.value.trim() || null });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      } catch (error) {
        holder.append(el("span", t("action.failed") + ": " + error.message, "error"));
      }
    });
    return [holder, phone, save];
  }

  $("report-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadReports(me);
  });
  $("report-export").addEventListener("click", exportReport);

  window.AnbuManage = { loadManage, loadReports, caseLoaded, householdLoaded };
})();
