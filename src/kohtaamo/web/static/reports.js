// Report charts (uPlot, vendored under /static/vendor/uplot) from the page's JSON block, and the
// width of table bars. No inline script or style, so pages work under a strict CSP.
"use strict";
(function () {
  document.querySelectorAll(".bar[data-w]").forEach(function (el) {
    el.style.width = Math.max(0, Math.min(1, parseFloat(el.dataset.w) || 0)) * 10 + "rem";
  });
  var block = document.getElementById("chart-data");
  if (!block || typeof uPlot === "undefined") return;
  var data = JSON.parse(block.textContent);
  var lang = document.documentElement.lang === "fi" ? "fi-FI" : "en-GB";
  var COLORS = ["#3b5bdb", "#f08c00", "#2f9e44", "#c2255c"];
  var num = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });
  var dayName = new Intl.DateTimeFormat(lang, { day: "numeric", month: "numeric", year: "numeric", timeZone: "UTC" });
  var shortDay = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });
  var X = { label: lang === "fi-FI" ? "Päivä" : "Day", value: function (u, v) { return v == null ? "–" : dayName.format(new Date(v * 1000)); } };

  function days() {
    return data.days.map(function (d) { return Date.parse(d + "T12:00:00Z") / 1000; });
  }
  function money(currency) {
    var f = new Intl.NumberFormat(lang, { style: "currency", currency: currency, maximumFractionDigits: 0 });
    return function (v) { return f.format(v / 100); };
  }
  function line(label, i, scale, fmt) {
    return {
      label: label, stroke: COLORS[i], width: 2, scale: scale || "y",
      fill: i === 0 ? "rgba(59,91,219,.08)" : undefined,
      value: function (u, v) { return v == null ? "–" : (fmt || num.format)(v); },
    };
  }
  function bars(label, i, scale) {
    var s = line(label, i, scale);
    s.paths = uPlot.paths.bars({ size: [0.6, 90] });
    s.fill = COLORS[i] + "99";
    s.width = 1;
    return s;
  }
  function axes(yfmt, y2fmt) {
    var ax = [
      { stroke: "#667085", grid: { stroke: "#eef0f4" },
        values: function (u, vs) { return vs.map(function (v) { return shortDay.format(new Date(v * 1000)); }); } },
      { stroke: "#667085", grid: { stroke: "#eef0f4" }, size: 60,
        values: function (u, vs) { return vs.map(yfmt || num.format); } },
    ];
    if (y2fmt) {
      ax.push({ scale: "y2", side: 1, stroke: "#667085", grid: { show: false }, size: 70,
        values: function (u, vs) { return vs.map(y2fmt); } });
    }
    return ax;
  }
  var builders = {
    traffic: function (el, labels) {
      return [{ series: [X, line(labels.visitors, 0), line(labels.conversations, 1)], axes: axes() },
        [days(), data.visitors, data.conversations]];
    },
    sales: function (el, labels) {
      var fmt = money(el.dataset.currency || "EUR");
      return [{ series: [X, bars(labels.orders, 0), line(labels.revenue, 1, "y2", fmt)], axes: axes(null, fmt),
        scales: { y: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } } } },
        [days(), data.orders, data.revenue]];
    },
    rule: function (el, labels) {
      return [{ series: [X, line(labels.fired, 0), line(labels.held_out, 1), line(labels.conversations, 2)], axes: axes() },
        [days(), data.fired, data.held_out, data.conversations]];
    },
    funnel: function (el, labels) {
      var names = labels.stages;
      var ax = axes();
      ax[0] = { stroke: "#667085", grid: { show: false }, size: 40,
        values: function (u, vs) { return vs.map(function (v) { return names[v] ? names[v].split(":")[0] : ""; }); } };
      return [{ series: [{ label: labels.stage || "", value: function (u, v) { return names[v] || ""; } }, bars(labels.people, 0)], axes: ax,
        scales: { x: { time: false, range: [-0.5, names.length - 0.5] }, y: { range: function (u, lo, hi) { return [0, Math.max(1, hi)]; } } } },
        [names.map(function (_, i) { return i; }), data.people]];
    },
  };
  document.querySelectorAll(".chart[data-chart]").forEach(function (el) {
    var build = builders[el.dataset.chart];
    if (!build) return;
    var made = build(el, JSON.parse(el.dataset.labels || "{}"));
    var opts = made[0];
    opts.width = Math.max(280, el.clientWidth);
    opts.height = 240;
    opts.legend = { live: true };
    opts.cursor = { drag: { x: false, y: false } };
    var plot = new uPlot(opts, made[1], el);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: Math.max(280, el.clientWidth), height: 240 }); }).observe(el);
    }
  });
})();
