// Anbu dashboard: API errors in the user's language. The API answers every 4xx with a stable
// code next to its English text (api/errors.py): {"detail": "...", "code": "household_not_found"},
// or for 422 {"detail": [{"loc": [...], "msg": "...", "type": "<code>", "ctx": {...}}]}.
// Codes are translated here through the page's message catalogue (error.<code>,
// validation.<type>, field.<name>); the English text is never shown to the user.
(() => {
  "use strict";

  const { t, hasText } = window.Anbu; // the page's message catalogue (common.js)
  // The policy's step kinds appear in 422 paths as discriminator tags: not a field to name.
  const TAGS = new Set(["call_resident", "notify_family", "notify_caseworker"]);
  const ROOTS = new Set(["body", "query", "path", "header"]);
  const NUL_PATTERN = "^[^\\x00]*$";

  // Catalogue texts hold %name% placeholders (plain {…} would clash with the server's formatting).
  function fill(text, params) {
    return text.replace(/%([a-z_]+)%/g, (whole, name) =>
      params && params[name] !== undefined && params[name] !== null ? String(params[name]) : whole,
    );
  }

  // The path of a 422 item without the "body"/"query" root and discriminator tags.
  function fieldPath(loc) {
    if (!Array.isArray(loc)) return [];
    return loc.filter((part, i) => !(i === 0 && ROOTS.has(part)) && !TAGS.has(part) && part !== "");
  }

  // "단계 2 › 대기 시간(분)": array indexes are shown counting from 1, next to what they index.
  function fieldLabel(loc) {
    const parts = [];
    for (const part of fieldPath(loc)) {
      if (typeof part === "number") {
        if (parts.length) parts[parts.length - 1] += " " + (part + 1);
        else parts.push("#" + (part + 1));
      } else {
        parts.push(t("field." + part, part));
      }
    }
    return parts.join(" › ");
  }

  function problemText(item) {
    const type = item.type || "value_error";
    const ctx = item.ctx || {};
    const path = fieldPath(item.loc);
    const last = String(path.length ? path[path.length - 1] : "");
    if (type === "string_pattern_mismatch") {
      if (ctx.pattern === NUL_PATTERN) return t("validation.nul_char");
      if (/phone/.test(last)) return t("validation.phone_format");
      if (["local_time", "start", "end"].includes(last)) return t("validation.time_format");
      if (last === "code") return t("validation.code_format");
    }
    if (hasText("validation." + type)) return fill(t("validation." + type), ctx);
    if (hasText("error." + type)) return fill(t("error." + type), ctx);
    return t("validation.invalid");
  }

  // One translated line per problem: {path, field, text} (path without the "body" root).
  function problems(body) {
    const detail = body && body.detail;
    if (!Array.isArray(detail)) return [];
    return detail.map((item) => ({ path: fieldPath(item.loc), field: fieldLabel(item.loc), text: problemText(item) }));
  }

  // The whole error as one sentence for a status line.
  function describe(status, body) {
    const list = problems(body);
    if (list.length) return list.map((p) => (p.field ? p.field + ": " : "") + p.text).join(" · ");
    const code = body && typeof body.code === "string" ? body.code : "";
    if (code && hasText("error." + code)) return t("error." + code);
    if (hasText("error.http_" + status)) return t("error.http_" + status);
    if (status >= 500) return t("error.http_500");
    return fill(t("error.unknown"), { status });
  }

  // A CSV import row problem ({row, column, message, code, params}).
  function rowProblem(problem) {
    if (problem.code && hasText("error." + problem.code)) return fill(t("error." + problem.code), problem.params || {});
    return t("validation.invalid");
  }

  // ---------------------------------------------------------------- the browser's own checks

  // required / minlength / min / max / pattern / type are checked by the browser before a form is
  // submitted, and it words its bubble in *its* UI language, not the page's. So every control's
  // message comes from the catalogue instead: set on "invalid" (fired by the browser's check, before
  // it shows the bubble) and cleared on "input"/"change" so the browser checks afresh. The texts are
  // the ones the server's 422s use for the same rules (validation.<pydantic type>).
  function controlName(control) {
    return String(control.name || control.id || "");
  }

  function nativeProblem(control) {
    const v = control.validity;
    if (v.valueMissing) return t("validation.missing");
    if (v.badInput) return t(control.type === "number" ? "validation.float_parsing" : "validation.invalid");
    if (v.typeMismatch) return t("validation.type_mismatch");
    if (v.patternMismatch) {
      const name = controlName(control);
      if (control.type === "tel" || /phone/.test(name)) return t("validation.phone_format");
      if (/time/.test(name)) return t("validation.time_format");
      if (/code|username/.test(name)) return t("validation.code_format");
      return t("validation.string_pattern_mismatch");
    }
    if (v.tooShort) return fill(t("validation.string_too_short"), { min_length: control.minLength });
    if (v.tooLong) return fill(t("validation.string_too_long"), { max_length: control.maxLength });
    if (v.rangeUnderflow) return fill(t("validation.greater_than_equal"), { ge: control.min });
    if (v.rangeOverflow) return fill(t("validation.less_than_equal"), { le: control.max });
    if (v.stepMismatch) return fill(t("validation.multiple_of"), { multiple_of: control.step });
    return t("validation.invalid");
  }

  function isControl(node) {
    return node instanceof HTMLInputElement || node instanceof HTMLSelectElement || node instanceof HTMLTextAreaElement;
  }

  function onInvalid(event) {
    const control = event.target;
    if (!isControl(control)) return;
    control.setCustomValidity(""); // judge the value itself, not our previous message
    if (control.validity.valid) return;
    control.setCustomValidity(nativeProblem(control));
  }

  function onEdit(event) {
    if (isControl(event.target)) event.target.setCustomValidity("");
  }

  // "invalid" does not bubble: listen in the capture phase, for every form now and later.
  document.addEventListener("invalid", onInvalid, true);
  document.addEventListener("input", onEdit, true);
  document.addEventListener("change", onEdit, true);

  window.AnbuErrors = { describe, problems, fieldLabel, fieldPath, rowProblem, fill, nativeProblem };
})();
