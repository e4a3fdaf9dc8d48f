// Anbu dashboard: on the household page, the family status links made for its contacts — when
// each was made, expires and was last opened — each with a Revoke button. A link's URL is shown
// only once, when it is made (dashboard.js); the server keeps a hash of it, never the URL.
(() => {
  "use strict";

  const { $, t, el, button, table, api, sendJson, latestOnly } = window.Anbu;
  const when = (iso, timeZone) => (iso ? window.Anbu.localTime(iso, timeZone, "dated") : t("links.never"));

  function state(link) {
    if (link.revoked_at) return t("links.revoked");
    return link.working ? t("links.working") : t("links.expired");
  }

  function revokeButton(link, item, me) {
    const name = (item.contacts.find((c) => c.id === link.contact_id) || {}).name || "#" + link.contact_id;
    const revoke = button(t("links.revoke"), "button-quiet", async () => {
      revoke.disabled = true;
      try {
        await sendJson("POST", "/status-links/" + link.id + "/revoke");
      } catch (error) {
        revoke.disabled = false;
        $("household-status-links").prepend(el("p", t("action.failed") + ": " + error.message, "error"));
        return;
      }
      await load(item, me);
    });
    revoke.id = "status-link-revoke-" + link.id;
    revoke.setAttribute("aria-label", t("links.revoke") + " — " + name);
    return revoke;
  }

  // Only for those who may make and revoke links (admins, caseworkers); others see nothing.
  // Only the latest of overlapping loads draws (else the list is appended twice).
  const startLoad = latestOnly();

  async function load(item, me) {
    const box = $("household-status-links");
    const isLatest = startLoad();
    box.replaceChildren();
    if (!(me.role === "admin" || me.role === "caseworker")) return;
    let page;
    try {
      page = await api("/households/" + item.id + "/status-links?limit=50");
      if (!isLatest()) return;
    } catch (error) {
      if (!isLatest()) return;
      if (error.status !== 401) box.append(el("p", t("action.failed") + ": " + error.message, "error"));
      return;
    }
    const tz = item.timezone;
    const nameOf = (id) => (item.contacts.find((c) => c.id === id) || {}).name || "#" + id;
    box.append(el("h3", t("links.heading")));
    if (!page.items.length) {
      box.append(el("p", t("links.none"), "muted"));
      return;
    }
    box.append(
      table(
        [t("col.name"), t("links.created"), t("links.expires"), t("links.last_used"), t("col.status"), ""],
        page.items.map((link) => [
          nameOf(link.contact_id),
          when(link.created_at, tz),
          when(link.expires_at, tz),
          when(link.last_used_at, tz),
          state(link),
          link.working ? revokeButton(link, item, me) : "",
        ]),
      ),
    );
  }

  window.AnbuStatusLinks = { load };
})();
