// Anbu dashboard: the reports page's charts (issue 17) — cases per week by kind and by how they
// ended, and how long cases waited for a person. Inline SVG built with DOM calls (no library, no
// inline style: CSP-safe), each readable on its own: a title, axis titles, the number on every
// bar, a legend with each series' total, and the whole chart in words (<desc> and a caption).
(() => {
  "use strict";

  const { t, el, LOCALE } = window.Anbu;
  const SVG = "http://www.w3.org/2000/svg";
  let W = 640; // the drawing's width: the figure's own, so text keeps its size on a phone
  const H = 280;
  const M = { top: 28, right: 12, bottom: 52, left: 48 };
  // Distinct in hue and lightness (still told apart in grey); the legend names each one anyway.
  const PALETTE = ["#1f5f8b", "#c2570c", "#3d6b35", "#8a6d00", "#7b3f8c", "#b3261e", "#4f6d7a", "#a0522d", "#2e8b8b", "#666666"];
  const KINDS = [
    "inactivity",
    "help_requested",
    "self_harm_risk",
    "device_offline",
    "away_ended",
    "unusual_night_activity",
    "unusual_daily_use",
    "fading_routine",
  ];
  const OUTCOMES = [
    "still_open",
    "cleared_by_resident",
    "cleared_by_activity",
    "cleared_other",
    "resident_fine",
    "false_alarm_away",
    "false_alarm_device",
    "hospital",
    "found_in_need",
    "deceased",
    "other",
  ];

  let chartSeq = 0;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const dayLabel = (iso) => new Intl.DateTimeFormat(LOCALE, { month: "short", day: "numeric" }).format(new Date(iso));
  const fill = (template, values) => Object.entries(values).reduce((text, [k, v]) => text.replaceAll("%" + k + "%", String(v)), template);

  function kindLabel(kind) {
    return t("kind." + kind, kind);
  }

  function outcomeLabel(code) {
    if (code === "cleared_by_resident" || code === "cleared_by_activity") return t("report." + code);
    if (code === "still_open" || code === "cleared_other") return t("chart.outcome." + code);
    return t("resolution." + code, code);
  }

  // An axis maximum with whole-number ticks (at most 5 steps).
  function scale(max) {
    if (max <= 0) return { top: 1, step: 1 };
    const rough = max / 5;
    const power = 10 ** Math.floor(Math.log10(rough));
    const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough));
    return { top: Math.ceil(max / step) * step, step };
  }

  // <figure> with the chart, its legend and the caption in words; the SVG is one labelled image.
  function figure(title, summary, details, build, legendItems) {
    const id = "chart-" + ++chartSeq;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": id + "-t " + id + "-d", class: "chart" });
    root.append(svg("title", { id: id + "-t" }, title), svg("desc", { id: id + "-d" }, summary + " " + details));
    build(root);
    const fig = el("figure", null, "chart-figure");
    fig.appendChild(el("h3", title, "chart-title"));
    fig.appendChild(root);
    if (legendItems.length) {
      const legend = el("ul", null, "chart-legend");
      for (const item of legendItems) {
        const li = el("li");
        const swatch = svg("svg", { viewBox: "0 0 12 12", width: 12, height: 12, "aria-hidden": "true" });
        swatch.appendChild(svg("rect", { width: 12, height: 12, fill: item.colour }));
        li.append(swatch, " " + item.label + " (" + item.total + ")");
        legend.appendChild(li);
      }
      fig.appendChild(legend);
    }
    fig.appendChild(el("figcaption", summary, "muted"));
    return fig;
  }

  function axes(root, top, step, xTitle, yTitle) {
    const plotH = H - M.top - M.bottom;
    for (let v = 0; v <= top; v += step) {
      const y = M.top + plotH - (v / top) * plotH;
      root.appendChild(svg("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, class: "chart-grid" }));
      root.appendChild(svg("text", { x: M.left - 6, y: y + 4, "text-anchor": "end", class: "chart-tick" }, String(v)));
    }
    root.appendChild(svg("text", { x: (M.left + W - M.right) / 2, y: H - 6, "text-anchor": "middle", class: "chart-axis" }, xTitle));
    root.appendChild(
      svg("text", { x: 12, y: M.top + plotH / 2, "text-anchor": "middle", transform: `rotate(-90 12 ${M.top + plotH / 2})`, class: "chart-axis" }, yTitle),
    );
  }

  // Stacked bars: one per week, a segment per series, the week's total above the bar.
  function stackedWeeks(title, weeks, field, series, label) {
    const present = series.filter((key) => weeks.some((w) => w[field][key]));
    const colour = (key) => PALETTE[series.indexOf(key) % PALETTE.length];
    const totals = weeks.map((w) => w.cases_opened);
    const total = totals.reduce((a, b) => a + b, 0);
    const { top, step } = scale(Math.max(0, ...totals));
    const plotW = W - M.left - M.right;
    const plotH = H - M.top - M.bottom;
    const slot = plotW / Math.max(1, weeks.length);
    const every = Math.ceil(weeks.length / Math.max(2, Math.floor(plotW / 60))); // labels never overlap
    const build = (root) => {
      axes(root, top, step, t("chart.week_axis"), t("chart.cases_axis"));
      weeks.forEach((w, i) => {
        const x = M.left + i * slot + slot * 0.15;
        const width = slot * 0.7;
        let y = M.top + plotH;
        for (const key of present) {
          const n = w[field][key] || 0;
          if (!n) continue;
          const h = (n / top) * plotH;
          y -= h;
          const rect = svg("rect", { x, y, width, height: h, fill: colour(key), class: "chart-bar" });
          rect.appendChild(svg("title", {}, dayLabel(w.start) + " · " + label(key) + ": " + n));
          root.appendChild(rect);
        }
        if (w.cases_opened) {
          root.appendChild(svg("text", { x: x + width / 2, y: y - 4, "text-anchor": "middle", class: "chart-value" }, String(w.cases_opened)));
        }
        if (i % every === 0) {
          root.appendChild(svg("text", { x: x + width / 2, y: M.top + plotH + 16, "text-anchor": "middle", class: "chart-tick" }, dayLabel(w.start)));
        }
      });
    };
    const busiest = weeks.reduce((best, w) => (!best || w.cases_opened > best.cases_opened ? w : best), null);
    const summary = fill(t("chart.weeks_summary"), {
      weeks: weeks.length,
      total,
      from: weeks.length ? dayLabel(weeks[0].start) : "–",
      busiest: busiest && busiest.cases_opened ? dayLabel(busiest.start) : "–",
      most: busiest ? busiest.cases_opened : 0,
    });
    const details = weeks
      .map((w) => dayLabel(w.start) + ": " + w.cases_opened + (w.cases_opened ? " (" + present.filter((k) => w[field][k]).map((k) => label(k) + " " + w[field][k]).join(", ") + ")" : ""))
      .join("; ");
    const legend = present.map((key) => ({ label: label(key), colour: colour(key), total: weeks.reduce((s, w) => s + (w[field][key] || 0), 0) }));
    return figure(title, summary, details, build, legend);
  }

  // Horizontal bars: cases by how long they waited for a person, the count at each bar's end.
  function ackChart(buckets) {
    const max = Math.max(0, ...buckets.map((b) => b.cases));
    const { top } = scale(max);
    const left = Math.min(150, Math.round(W * 0.3));
    const rowH = (H - M.top - M.bottom + 20) / Math.max(1, buckets.length);
    const plotW = W - left - M.right - 40;
    const total = buckets.reduce((s, b) => s + b.cases, 0);
    const build = (root) => {
      buckets.forEach((b, i) => {
        const y = M.top + i * rowH;
        const width = top ? (b.cases / top) * plotW : 0;
        root.appendChild(svg("text", { x: left - 8, y: y + rowH / 2 + 4, "text-anchor": "end", class: "chart-tick" }, t("chart.ack." + b.key)));
        const colour = b.key === "never" ? "#666666" : b.key === "later" ? "#b3261e" : "#1f5f8b";
        const rect = svg("rect", { x: left, y: y + rowH * 0.15, width: Math.max(width, 0), height: rowH * 0.7, fill: colour, class: "chart-bar" });
        rect.appendChild(svg("title", {}, t("chart.ack." + b.key) + ": " + b.cases));
        root.appendChild(rect);
        root.appendChild(svg("text", { x: left + width + 6, y: y + rowH / 2 + 4, class: "chart-value" }, String(b.cases)));
      });
      root.appendChild(svg("text", { x: (left + W - M.right) / 2, y: H - 6, "text-anchor": "middle", class: "chart-axis" }, t("chart.cases_axis")));
    };
    const quick = buckets.filter((b) => b.key === "within_5" || b.key === "within_15").reduce((s, b) => s + b.cases, 0);
    const never = (buckets.find((b) => b.key === "never") || { cases: 0 }).cases;
    const summary = fill(t("chart.ack_summary"), { total, quick, never });
    const details = buckets.map((b) => t("chart.ack." + b.key) + ": " + b.cases).join("; ");
    return figure(t("chart.ack_title"), summary, details, build, []);
  }

  // The figures' width in the .charts grid (columns of at least 420 px, 24 px apart).
  function figureWidth(container) {
    const room = container.clientWidth || 640;
    const columns = room >= 2 * 420 + 24 ? 2 : 1;
    return Math.max(300, Math.min(640, Math.floor((room - (columns - 1) * 24) / columns)));
  }

  function render(container, report) {
    W = figureWidth(container);
    const weeks = report.weeks || [];
    container.replaceChildren(
      stackedWeeks(t("chart.kind_title"), weeks, "by_kind", KINDS, kindLabel),
      stackedWeeks(t("chart.outcome_title"), weeks, "by_outcome", OUTCOMES, outcomeLabel),
      ackChart(report.time_to_acknowledge || []),
    );
  }

  window.AnbuCharts = { render };
})();
