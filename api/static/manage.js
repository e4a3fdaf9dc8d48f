// Anbu dashboard: the management screens (#/manage/...): households, devices, teams, users, CSV
// import; the escalation policy tab is manage-policy.js, device identities device-identities.js.
// dashboard.js routes here (loadManage).
(() => {
  "use strict";

  const { $, t, el, button, link, table, sendJson } = window.Anbu;
  const api = window.Anbu.request; // the response itself (a CSV download, an upload's result)
  const getJson = window.Anbu.api;
  const when = (iso, timeZone) => window.Anbu.localTime(iso, timeZone, "dated");
  const { input, select, labelled, form, notice, fail, teams, forgetTeams, teamName } = window.AnbuForms;

  let me = null;

  const PAGE = 50;
  const TABS = ["households", "devices", "teams", "users", "import", "policy"];
  const ADMIN_TABS = new Set(["users", "policy"]);
  let householdOffset = 0;
  let householdSearch = "";
  let householdEditor = null; // the create/edit form's container on the households tab

  // ------------------------------------------------------------------ management: routing

  async function loadManage(hash, user) {
    me = user;
    forgetTeams();
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
    // Each load draws into a container of its own: a later load (a hashchange while this one is
    // still fetching) replaces it, so overlapping loads never draw a tab twice.
    const body = el("div");
    $("manage-body").replaceChildren(body);
    try {
      await { households, devices, teams: teamsTab, users, import: importTab, policy: window.AnbuManage.policyTab }[current](body);
    } catch (error) {
      fail("manage-error", error);
    }
  }

  // ------------------------------------------------------------------ households

  async function households(body) {
    const list = await teams();
    const { householdTable, searchQuery } = window.AnbuHouseholds;
    const page = await getJson("/households?" + searchQuery(householdSearch, householdOffset).toString());
    const search = input("search", "search", householdSearch, { placeholder: t("find.placeholder"), maxLength: 100 });
    search.setAttribute("aria-label", t("manage.search") + ": " + t("find.placeholder"));
    const searchForm = el("form", null, "inline-form");
    searchForm.append(search, button(t("manage.search"), "button-secondary", null, "submit"));
    searchForm.addEventListener("submit", (event) => {
      event.preventDefault();
      householdSearch = search.value.trim();
      householdOffset = 0;
      body.replaceChildren();
      households(body).catch((error) => fail("manage-error", error));
    });
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
      householdTable(page.items, list, (h) => button(t("action.edit"), "button-quiet", () => editHousehold(h.id))),
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
    const [pending, homes] = await Promise.all([getJson("/devices/pending?limit=200"), getJson("/households?limit=200")]);
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
      // Past one page (a flood of unknown devices, capped by ANBU_PENDING_DEVICES_MAX) say so.
      pending.total > pending.items.length
        ? el("p", t("manage.pending_more") + " " + pending.items.length + " / " + pending.total, "muted")
        : "",
      table([t("col.device"), t("manage.last_heard"), t("col.last_reading"), t("action.assign")], rows),
    );
    // Issuing MQTT identities is for admins (the API's rule too): device-identities.js.
    if (me.role === "admin") await window.AnbuDeviceIdentities.section(body, () => loadManage("#/manage/devices", me));
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
        forgetTeams();
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
          showImport(report, kind, result);
        },
      );
      body.append(f, report);
    }
  }

  // One clear line; the problem table only when there are problems (an empty one said "없음").
  function showImport(container, kind, result) {
    const summary = result.errors.length
      ? t("manage.import_rejected").replace("N", String(result.errors.length))
      : result.dry_run
        ? t("manage.import_checked").replace("N", String(result.rows))
        : t("manage.import_done_" + kind).replace("N", String(result.created));
    const line = el("p", summary, result.errors.length ? "error" : "ok");
    if (!result.errors.length) {
      container.replaceChildren(line);
      return;
    }
    container.replaceChildren(
      line,
      table(
        [t("manage.row"), t("manage.column"), t("manage.problem")],
        result.errors.map((e) => [String(e.row), e.column, window.AnbuErrors.rowProblem(e)]),
      ),
    );
  }

  window.AnbuManage = Object.assign(window.AnbuManage || {}, { loadManage });
})();
