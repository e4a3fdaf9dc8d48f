// Anbu dashboard: device identities (MQTT) on the devices tab, for admins: issue one for a device,
// rotate its password, revoke it. A password exists only in the answer that issued it (the server
// keeps a hash), so it is shown once, with the vendor's exact setup lines, in a box that is gone
// once closed or the page is left; it is never stored in the page's state or the browser.
(() => {
  "use strict";

  const { t, el, button, table, sendJson } = window.Anbu;
  const getJson = window.Anbu.api;
  const { input, select, labelled, form, notice, fail } = window.AnbuForms;
  const fill = (key, params) => window.AnbuErrors.fill(t(key), params);
  const when = (iso) => window.Anbu.localTime(iso, null, "dated");

  const VENDORS = ["tasmota", "shelly", "shelly_gen1", "esphome", "zigbee2mqtt", "native"];
  const PAGE = 100;

  // The devices tab's identities section: the form, the shown-once box, the list.
  async function section(body, reload) {
    const page = await getJson("/devices/identities?limit=" + PAGE);
    const issuedBox = el("section", null, "identity-issued");
    issuedBox.id = "identity-issued";
    issuedBox.hidden = true;
    issuedBox.setAttribute("aria-live", "polite");
    const vendor = select("identity_vendor", VENDORS.map((v) => [v, t("identity.vendor." + v)]));
    const deviceId = input("identity_external_id", "text", "", {
      required: true,
      maxLength: 200,
      autocomplete: "off",
      spellcheck: false,
      placeholder: "kettle-hh0042",
    });
    const addForm = form(
      "identity-form",
      [labelled(t("identity.vendor"), vendor), labelled(t("identity.device_id"), deviceId)],
      t("identity.add"),
      async () => {
        const issued = await sendJson("POST", "/devices/identities", {
          vendor: vendor.value,
          external_id: deviceId.value.trim(),
        });
        deviceId.value = "";
        await reload();
        showIssued(issued, false);
      },
    );
    const list = el("div");
    list.id = "identity-list";
    const rows = page.items.map((identity) => [
      identity.username,
      t("identity.vendor." + identity.vendor, identity.vendor),
      when(identity.issued_at),
      identity.revoked_at ? t("identity.revoked") + " · " + when(identity.revoked_at) : t("identity.active"),
      identity.revoked_at ? "" : actions(identity, reload),
    ]);
    body.append(
      el("h2", t("identity.heading")),
      el("p", t("identity.help"), "muted"),
      issuedBox,
      addForm,
      page.total > page.items.length ? el("p", t("identity.more") + " " + page.items.length + " / " + page.total, "muted") : "",
      list,
    );
    list.append(
      page.items.length
        ? table([t("identity.username"), t("identity.vendor"), t("identity.issued_at"), t("identity.state"), ""], rows)
        : el("p", t("identity.none"), "muted"),
    );
  }

  // Rotate and Revoke, each asked inline first: both cut a connected device off at once.
  function actions(identity, reload) {
    const cell = el("div", null, "inline-form identity-actions");
    cell.id = "identity-actions-" + identity.id;
    const ask = (kind) => {
      const question = el("span", fill("identity.confirm_" + kind, { username: identity.username }), "identity-question");
      question.id = "identity-question-" + identity.id;
      const go = button(t("identity.confirm_" + kind + "_button"), "button-primary", async () => {
        go.disabled = true;
        try {
          const answer = await sendJson("POST", "/devices/identities/" + identity.id + "/" + kind);
          await reload();
          if (kind === "rotate") showIssued(answer, true);
          else revoked(answer);
        } catch (error) {
          go.disabled = false;
          fail("manage-error", error);
        }
      });
      go.id = "identity-confirm-" + identity.id;
      const cancel = button(t("action.cancel"), "button-quiet", () => {
        draw();
        document.getElementById("identity-" + kind + "-" + identity.id).focus();
      });
      cell.replaceChildren(question, go, cancel);
      go.focus();
    };
    const draw = () => {
      const rotate = button(t("identity.rotate"), "button-quiet", () => ask("rotate"));
      rotate.id = "identity-rotate-" + identity.id;
      rotate.setAttribute("aria-label", t("identity.rotate") + " — " + identity.username);
      const revoke = button(t("identity.revoke"), "button-quiet", () => ask("revoke"));
      revoke.id = "identity-revoke-" + identity.id;
      revoke.setAttribute("aria-label", t("identity.revoke") + " — " + identity.username);
      cell.replaceChildren(rotate, revoke);
    };
    cell.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && cell.querySelector(".identity-question")) draw();
    });
    draw();
    return cell;
  }

  function revoked(answer) {
    notice(fill("identity.revoked_notice", { username: answer.identity.username }));
    if (!answer.broker_told) fail("manage-error", new Error(t("identity.broker_not_told")));
  }

  // The password and the setup lines, once. Closing the box drops them from the page.
  function showIssued(issued, rotated) {
    const box = document.getElementById("identity-issued");
    const username = issued.identity.username;
    const setup = issued.setup;
    const facts = el("dl", null, "facts");
    for (const [label, value, id] of [
      [t("identity.username"), username, "identity-issued-username"],
      [t("identity.password"), issued.password, "identity-issued-password"],
    ]) {
      const dd = el("dd", value, "code");
      dd.id = id;
      facts.append(el("dt", label), dd);
    }
    const lines = el("pre", setup.lines.join("\n"), "setup-lines");
    lines.id = "identity-setup-lines";
    lines.tabIndex = 0;
    lines.setAttribute("aria-label", t("identity.setup_lines"));
    const copied = el("span", null, "muted");
    copied.setAttribute("role", "status");
    const copy = button(t("identity.copy"), "button-secondary", async () => {
      try {
        await navigator.clipboard.writeText(setup.lines.join("\n"));
        copied.textContent = t("identity.copied");
      } catch (_) {
        window.getSelection().selectAllChildren(lines); // no clipboard (plain http): select for Ctrl+C
      }
    });
    const notes = el("ul", null, "setup-notes");
    for (const note of setup.note_codes) notes.append(el("li", fill("identity.note." + note.code, note.params)));
    const done = button(t("identity.done"), "button-primary", () => {
      box.replaceChildren();
      box.hidden = true;
      document.getElementById("m-identity_external_id").focus();
    });
    done.id = "identity-issued-done";
    const heading = el("h3", fill(rotated ? "identity.rotated_heading" : "identity.issued_heading", { username }));
    heading.id = "identity-issued-heading";
    heading.tabIndex = -1;
    box.replaceChildren(
      heading,
      el("p", t("identity.once"), "notice"),
      issued.claimed ? el("p", t("identity.claimed"), "muted") : "",
      facts,
      el("h4", t("identity.where." + issued.identity.vendor, setup.where)),
      lines,
      el("p", null, "inline-form"),
      setup.note_codes.length ? notes : "",
      done,
    );
    box.querySelector("p.inline-form").append(copy, copied);
    box.hidden = false;
    heading.focus();
  }

  window.AnbuDeviceIdentities = { section };
})();
