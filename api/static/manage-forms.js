// Anbu dashboard: what the management screens share (loaded before them): form controls, a form
// that shows a 422's problems next to their controls, the notice and error lines, the teams list.
(() => {
  "use strict";

  const { $, t, el, button } = window.Anbu;

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
    contact_address_as: "address_as",
    contact_phone: "phone",
    contact_tier: "tier",
    contact_channel: "preferred_channel",
    resident_add_name: "name",
    resident_add_phone: "phone",
    identity_vendor: "vendor",
    identity_external_id: "external_id",
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

  // The teams list, fetched once per screen load (forgetTeams after a change).
  let teamsCache = null;
  async function teams() {
    if (!teamsCache) teamsCache = (await window.Anbu.api("/teams")).items;
    return teamsCache;
  }

  function forgetTeams() {
    teamsCache = null;
  }

  const teamName = (list, id) => (list.find((x) => x.id === id) || { name: "#" + id }).name;
  const canManage = (user) => Boolean(user) && (user.role === "admin" || user.role === "caseworker");

  window.AnbuForms = { input, select, labelled, form, notice, fail, teams, forgetTeams, teamName, canManage };
})();
