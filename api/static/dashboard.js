// Anbu dashboard: sign in, then keep the case queue fresh (every 5 s) without reloading.
// Data is only ever inserted with textContent, never as HTML.
(() => {
  "use strict";

  const API = "/api/v1";
  const TOKEN_KEY = "anbu.token";
  const REFRESH_MS = 5000;
  const M = JSON.parse(document.getElementById("messages").textContent);
  const LANG = document.documentElement.lang || "ko";
  const LOCALE = LANG === "ko" ? "ko-KR" : "en-GB";

  const $ = (id) => document.getElementById(id);
  const t = (key, fallback) => (key in M ? M[key] : fallback !== undefined ? fallback : key);

  let me = null;
  let lastRendered = "";
  let timer = null;
  let resolvingCase = null;

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail || String(status));
      this.status = status;
    }
  }

  // ------------------------------------------------------------------ HTTP

  async function api(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(API + path, Object.assign({}, options, { headers }));
    if (response.status === 401) {
      signOut(t("session.expired"));
      throw new ApiError(401, t("session.expired"));
    }
    if (!response.ok) {
      let detail = "";
      try {
        const body = await response.json();
        detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
      } catch (_) {
        detail = response.statusText;
      }
      throw new ApiError(response.status, detail);
    }
    return response.status === 204 ? null : response.json();
  }

  const postJson = (path, body) =>
    api(path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}),
    });

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
    show($("queue-panel"), false);
    show($("logout"), false);
    show($("whoami"), false);
    show($("login-panel"), true);
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
    show($("queue-panel"), true);
    await refresh();
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, REFRESH_MS);
  }

  // ------------------------------------------------------------------ queue

  async function refresh() {
    if (!me) return;
    let page;
    try {
      page = await api("/cases?status=open&status=acknowledged&limit=200");
    } catch (error) {
      if (error.status === 403) showError($("queue-error"), t("action.forbidden"));
      else if (error.status !== 401) showError($("queue-error"), t("queue.offline"));
      return;
    }
    showError($("queue-error"), "");
    $("queue-updated").textContent = new Date().toLocaleTimeString(LOCALE);
    $("queue-count").textContent = String(page.total);
    const snapshot = JSON.stringify(page.items);
    if (snapshot === lastRendered) return; // nothing changed: keep focus and scroll where they are
    lastRendered = snapshot;
    render(page.items);
  }

  function cell(row, text, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function localTime(iso, timeZone) {
    try {
      return new Intl.DateTimeFormat(LOCALE, {
        timeZone,
        month: "short",
        day: "numeric",
        weekday: "short",
        hour: "2-digit",
        minute: "2-digit",
      }).format(new Date(iso));
    } catch (_) {
      return iso; // unknown zone: show the raw UTC time rather than nothing
    }
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
    if (item.acknowledged_by) {
      done.push(t("done.acknowledged_by") + ": " + item.acknowledged_by.replace(/^user:/, ""));
    }
    return done;
  }

  function button(label, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button " + className;
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function render(items) {
    const body = $("queue-body");
    const rows = [];
    if (items.length === 0) {
      const row = document.createElement("tr");
      const td = cell(row, t("queue.empty"), "empty");
      td.colSpan = 8;
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
      cell(row, item.household_code, "code");
      cell(row, t("kind." + item.kind, item.kind));
      cell(row, item.explanation, "explanation");
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
      cell(row, t("status." + item.status, item.status), "status status-" + item.status);
      const actions = cell(row, "", "actions");
      if (item.status === "open") {
        actions.appendChild(button(t("action.acknowledge"), "button-primary", (event) => acknowledge(item, event.currentTarget)));
      }
      if (me && me.role !== "control_room") {
        actions.appendChild(button(t("action.resolve"), "button-secondary", () => openResolve(item)));
      }
      rows.push(row);
    }
    body.replaceChildren(...rows);
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
    const text = error.status === 403 ? t("action.forbidden") : t("action.failed") + ": " + error.message;
    showError($("queue-error"), text);
  }

  // ------------------------------------------------------------------ resolve dialog

  function openResolve(item) {
    resolvingCase = item;
    $("resolve-household").textContent = "— " + item.household_code;
    $("resolve-note").value = "";
    showError($("resolve-error"), "");
    $("resolve-dialog").showModal();
  }

  async function submitResolve(event) {
    event.preventDefault();
    if (!resolvingCase) return;
    const body = { code: $("resolve-code").value, note: $("resolve-note").value };
    try {
      await postJson("/cases/" + resolvingCase.id + "/resolve", body);
    } catch (error) {
      if (error.status !== 401) {
        showError(
          $("resolve-error"),
          error.status === 403 ? t("action.forbidden") : t("action.failed") + ": " + error.message,
        );
      }
      return;
    }
    resolvingCase = null;
    $("resolve-dialog").close();
    lastRendered = "";
    await refresh();
  }

  // ------------------------------------------------------------------ wiring

  $("login-form").addEventListener("submit", signIn);
  $("logout").addEventListener("click", () => signOut());
  $("resolve-form").addEventListener("submit", submitResolve);
  $("resolve-cancel").addEventListener("click", () => {
    resolvingCase = null;
    $("resolve-dialog").close();
  });
  start();
})();
