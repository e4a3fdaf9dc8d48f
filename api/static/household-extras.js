// Anbu dashboard: on the household page, the check-in schedule and answers, contacts and residents.
(() => {
  "use strict";

  const { LANG, $, t, el, button, table, phoneLink, sendJson, WEEKDAYS, latestOnly } = window.Anbu;
  const api = window.Anbu.request; // the response itself (a CSV download, an upload's result)
  const getJson = window.Anbu.api;
  const when = (iso, timeZone) => window.Anbu.localTime(iso, timeZone, "dated");
  const { input, select, labelled, form, canManage } = window.AnbuForms;

  let me = null;

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

  // Only the latest of overlapping loads draws (Anbu.latestOnly).
  const startLoad = latestOnly();

  async function householdLoaded(item, user) {
    me = user;
    const box = $("household-extra");
    const isLatest = startLoad();
    box.replaceChildren();
    let schedule;
    let checkins;
    try {
      [schedule, checkins] = await Promise.all([
        getJson("/households/" + item.id + "/checkin-schedule"),
        getJson("/households/" + item.id + "/checkins?limit=10&lang=" + LANG),
      ]);
      if (!isLatest()) return;
    } catch (error) {
      if (!isLatest()) return;
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
    if (!canManage(me)) return;
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
            c.address_as ? c.name + " — " + t("manage.address_as_short") + " “" + c.address_as + "”" : c.name,
            phoneLink(c.phone),
            deleteContact(c, box),
          ]),
        ],
      ),
      ...(me.role === "admin" ? eraseSection(item, box) : []),
      el("h2", t("manage.add_contact")),
      form(
        "contact-form",
        [
          labelled(t("col.name"), input("contact_name", "text", "", { required: true, maxLength: 200 })),
          labelled(t("manage.relation"), input("contact_relation", "text", "", { maxLength: 100 })),
          labelled(t("manage.address_as"), input("contact_address_as", "text", "", { maxLength: 50, placeholder: t("manage.address_as_example") })),
          labelled(t("col.phone"), input("contact_phone", "tel", "", { required: true, placeholder: "+8210…" })),
          labelled(t("manage.tier"), input("contact_tier", "number", 1, { min: 1, max: 9 })),
          labelled(t("col.channel"), select("contact_channel", [["sms", t("channel.sms")], ["call", t("channel.call")]])),
        ],
        t("action.create"),
        async (f) => {
          await sendJson("POST", "/households/" + item.id + "/contacts", {
            name: f.contact_name.value.trim(),
            relation: f.contact_relation.value.trim(),
            address_as: f.contact_address_as.value.trim(),
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

  // An action asked first, inline (not confirm(): it is modal, unstyled and in the browser's
  // language); Cancel or Escape returns focus to the start button. Ids: <prefix>-<key> (start),
  // <prefix>-question-<key>, <prefix>-confirm-<key>. onStart(ask) asks: ask(question, yes, onYes).
  function inlineConfirm(prefix, key, startLabel, ariaLabel, onStart) {
    const holder = el("div", null, "inline-form");
    const ask = (text, yesLabel, onYes) => {
      const question = el("span", text);
      question.id = prefix + "-question-" + key;
      const yes = button(yesLabel, "button-primary", onYes);
      yes.id = prefix + "-confirm-" + key;
      yes.setAttribute("aria-describedby", question.id);
      const no = button(t("action.cancel"), "button-quiet", idle);
      holder.replaceChildren(question, yes, no);
      holder.onkeydown = (event) => event.key === "Escape" && idle();
      no.focus();
    };
    const idle = () => {
      const start = button(startLabel, "button-quiet", () => onStart(ask));
      start.id = prefix + "-" + key;
      start.setAttribute("aria-label", ariaLabel);
      holder.replaceChildren(start);
      holder.onkeydown = null;
      if (holder.isConnected) start.focus();
    };
    idle();
    return holder;
  }

  function deleteContact(contact, box) {
    const remove = async () => {
      try {
        await api("/contacts/" + contact.id, { method: "DELETE" });
        window.dispatchEvent(new HashChangeEvent("hashchange"));
      } catch (error) {
        box.prepend(el("p", t("action.failed") + ": " + error.message, "error"));
      }
    };
    const label = t("action.delete");
    return inlineConfirm("contact-delete", contact.id, label, label + " — " + contact.name, (ask) =>
      ask(t("manage.confirm_delete_contact"), label, remove),
    );
  }

  // Admins erase a resident's personal data (POST /residents/{id}/erase, docs/privacy.md); while
  // a case is open the API refuses (409) and a second, explicit step resolves the open cases
  // first ("force").
  function eraseSection(item, box) {
    const residents = item.residents.filter((r) => !r.erased_at);
    if (!residents.length) return [];
    return [el("h2", t("erase.heading")), el("p", t("erase.help"), "muted"), ...residents.map((r) => eraseResident(r, box))];
  }

  function eraseResident(resident, box) {
    const label = t("erase.action") + " — " + resident.name;
    return inlineConfirm("resident-erase", resident.id, label, label, (ask) => {
      const send = async (force) => {
        try {
          await sendJson("POST", "/residents/" + resident.id + "/erase", { force });
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        } catch (error) {
          if (!force && error.body && error.body.code === "erasure_case_open") {
            ask(error.message + " " + t("erase.confirm_force"), t("erase.force"), () => send(true));
          } else {
            box.prepend(el("p", t("action.failed") + ": " + error.message, "error"));
          }
        }
      };
      ask(t("erase.confirm"), t("erase.action"), () => send(false));
    });
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

  window.AnbuManage = Object.assign(window.AnbuManage || {}, { householdLoaded });
})();
