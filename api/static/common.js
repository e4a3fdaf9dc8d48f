// Anbu dashboard, shared by every page (loaded first): the message catalogue, DOM helpers, time
// formatting and the API client, with one behaviour when the session has expired (the page that
// signs in registers it with onSessionExpired). Data is only ever inserted with textContent.
(() => {
  "use strict";

  const API = "/api/v1";
  const TOKEN_KEY = "anbu.token";
  const M = JSON.parse(document.getElementById("messages").textContent);
  const LANG = document.documentElement.lang || "ko";
  const LOCALE = LANG === "ko" ? "ko-KR" : "en-GB";
  const NOTHING = "–"; // what an empty value shows as, everywhere
  const WEEKDAYS = ["heat.mon", "heat.tue", "heat.wed", "heat.thu", "heat.fri", "heat.sat", "heat.sun"];

  const $ = (id) => document.getElementById(id);
  const t = (key, fallback) => (key in M ? M[key] : fallback !== undefined ? fallback : key);
  const hasText = (key) => key in M;
  const isBlank = (value) => value === null || value === undefined || value === "";

  // ------------------------------------------------------------------ DOM

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

  function link(href, text) {
    const a = el("a", text);
    a.href = href;
    return a;
  }

  // A Korean number as people say it ("+821012345678" -> "010-1234-5678"); others as stored.
  function phoneText(number) {
    const mobile = number.match(/^\+82(1\d)(\d{3,4})(\d{4})$/);
    return mobile ? "0" + mobile.slice(1).join("-") : number;
  }

  // A phone number as a tap-to-call link (a caseworker in the field rings from the page); an
  // empty one is "–". Only digits and "+" go into the tel: URL.
  function phoneLink(number) {
    if (isBlank(number)) return NOTHING;
    const a = link("tel:" + String(number).replace(/[^\d+]/g, ""), phoneText(String(number)));
    a.className = "tel";
    return a;
  }

  // A table of rows (cells: text, or a Node); an empty value shows as "–", no rows as "none".
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
      row.forEach((value, i) => {
        const td = el("td");
        if (headers[i]) td.dataset.label = headers[i]; // the column's name on a phone, where rows are cards
        if (value instanceof Node) td.appendChild(value);
        else td.textContent = isBlank(value) ? NOTHING : String(value);
        tr.appendChild(td);
      });
      tbody.appendChild(tr);
    }
    tableEl.append(thead, tbody);
    return tableEl;
  }

  // ------------------------------------------------------------------ time

  // "short": Mon 2 Mar, 18:05 (the queue and case pages); "dated": with the year (lists of
  // records that go back further).
  const TIME_STYLES = {
    short: { month: "short", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit" },
    dated: { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" },
  };

  // A case's explanation in the user's language: the API sends it in every language
  // (explanation_texts); cases stored before that have only their Korean text (explanation).
  function explanationText(item) {
    return (item.explanation_texts && item.explanation_texts[LANG]) || item.explanation;
  }

  // ``iso`` in the household's time zone; an unknown zone shows the raw UTC time, not nothing.
  function localTime(iso, timeZone, style) {
    if (!iso) return NOTHING;
    try {
      return new Intl.DateTimeFormat(LOCALE, Object.assign({ timeZone: timeZone || undefined }, TIME_STYLES[style || "short"])).format(
        new Date(iso),
      );
    } catch (_) {
      return iso;
    }
  }

  // ------------------------------------------------------------------ HTTP

  // message: the problem in the user's language (errors.js translates the API's codes).
  class ApiError extends Error {
    constructor(status, message, body) {
      super(message || String(status));
      this.status = status;
      this.body = body || null;
    }
  }

  let sessionExpired = () => {};

  // The response of a request that succeeded; a 401 anywhere signs the user out (the handler
  // registered with onSessionExpired) and every other failure throws an ApiError.
  async function request(path, options = {}) {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = Object.assign({ Accept: "application/json" }, options.headers || {});
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(API + path, Object.assign({}, options, { headers }));
    if (response.status === 401) {
      sessionExpired(t("session.expired"));
      throw new ApiError(401, t("session.expired"));
    }
    if (!response.ok) {
      let body = null;
      try {
        body = await response.json();
      } catch (_) {
        body = null;
      }
      throw new ApiError(response.status, window.AnbuErrors.describe(response.status, body), body);
    }
    return response;
  }

  // The JSON of a request (null for 204 No Content).
  async function api(path, options) {
    const response = await request(path, options);
    return response.status === 204 ? null : response.json();
  }

  // Loads of one panel can overlap (a hashchange while the last is still fetching); only the
  // latest may draw, or both append and the page shows every section (and every id) twice.
  // const startLoad = latestOnly(); per load: const isLatest = startLoad(); after each await:
  // if (!isLatest()) return;
  function latestOnly() {
    let latest = 0;
    return () => {
      const mine = ++latest;
      return () => mine === latest;
    };
  }

  const sendJson = (method, path, body) =>
    api(path, { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });

  window.Anbu = {
    API,
    TOKEN_KEY,
    LANG,
    LOCALE,
    NOTHING,
    WEEKDAYS,
    $,
    t,
    hasText,
    el,
    button,
    link,
    phoneLink,
    table,
    localTime,
    explanationText,
    ApiError,
    request,
    api,
    sendJson,
    latestOnly,
    onSessionExpired: (handler) => {
      sessionExpired = handler;
    },
  };
})();
