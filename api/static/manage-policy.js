// Anbu dashboard: the escalation policy tab (#/manage/policy, admins): the ladder, emergency
// actions, quiet hours, limits and the self-harm protocol's choices, edited as a form and saved whole.
(() => {
  "use strict";

  const { $, t, el, button, sendJson } = window.Anbu;
  const getJson = window.Anbu.api;
  const { input, select, labelled, notice, fail } = window.AnbuForms;

  // ------------------------------------------------------------------ escalation policy (admin)
  // A form over the policy model (notifier/policy.py): ordered steps, repeating, emergency
  // messages, quiet hours, daily limits, reminders and the pre-call text. The server validates
  // with the engine's own model; each 422 problem is shown next to the control it is about
  // (controls carry data-path = the problem's path, e.g. "steps.1.wait_minutes").

  const STEP_KINDS = ["call_resident", "notify_family", "call_family", "notify_caseworker", "call_control_room", "handoff_119"];
  const EMERGENCY_KINDS = ["notify_caseworker", "notify_family", "call_family", "call_control_room", "handoff_119"];
  // Actions that name a family tier.
  const TIERED = new Set(["notify_family", "call_family"]);
  const POLICY_LIMITS = {
    wait: [1, 1440],
    tier: [1, 9],
    repeats: [0, 20],
    ack: [15, 10080],
    calls: [1, 100],
    sms: [1, 500],
    controlRoom: [1, 120],
  };

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
        if (TIERED.has(step.action)) step.tier = numberOrNull($("m-policy_step_" + i + "_tier").value);
        return step;
      });
      draft.emergency = [...emergencyBox.querySelectorAll("li")].map((li, i) => {
        const item = { action: $("m-policy_emergency_" + i + "_action").value };
        if (TIERED.has(item.action)) item.tier = numberOrNull($("m-policy_emergency_" + i + "_tier").value);
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
      tierField.hidden = !TIERED.has(kind.value);
      kind.addEventListener("change", () => (tierField.hidden = !TIERED.has(kind.value)));
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
    const selfHarm = draft.self_harm || { family: "tell", control_room_after_minutes: 10 };
    const selfHarmFamily = select(
      "policy_self_harm_family",
      ["tell", "do_not_tell"].map((v) => [v, t("policy.self_harm_family." + v)]),
      selfHarm.family,
    );
    selfHarmFamily.dataset.path = "self_harm.family";
    const controlRoomAfter = numberInput(
      "policy_control_room_after",
      selfHarm.control_room_after_minutes,
      POLICY_LIMITS.controlRoom,
      "self_harm.control_room_after_minutes",
    );

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
      fieldset(
        t("policy.self_harm_heading"),
        t("policy.self_harm_help"),
        policyField(t("policy.self_harm_family"), selfHarmFamily),
        policyField(t("field.control_room_after_minutes"), controlRoomAfter),
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
        self_harm: { family: selfHarmFamily.value, control_room_after_minutes: numberOrNull(controlRoomAfter.value) },
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

  window.AnbuManage = Object.assign(window.AnbuManage || {}, { policyTab: policy });
})();
