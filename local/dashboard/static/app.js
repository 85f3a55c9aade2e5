// The orderflow dashboard: one server-sent event a second (see
// local/dashboard), rendered into the page. No framework and no build
// step: the binary embeds this file as it is.
"use strict";

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
// Every request carries the token as a bearer token: the plane's API asks
// for it when bound to a non-loopback address, the replay always.
const auth = token ? { Authorization: "Bearer " + token } : {};
const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
};
// Formatters are made once: toLocaleString builds one for every call, and
// a render formats dozens of numbers.
const numberFormats = {};
const fmt = (n, digits = 0) => (numberFormats[digits] ||= new Intl.NumberFormat("en", { maximumFractionDigits: digits, minimumFractionDigits: digits })).format(n);
const timeFormat = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const clock = (t) => timeFormat.format(new Date(t));

// Where each step sits: the happy path on the first row, compensation below.
const layout = {
  place: [1, 1, "happy"], created: [1, 2, "happy"], reserved: [1, 3, "happy"], paid: [1, 4, "happy"],
  confirmed: [1, 5, "happy"], notified: [1, 7, "happy"],
  rejected: [2, 3, "comp"], failed: [2, 4, "comp"], cancelled: [2, 5, "comp"], released: [2, 6, "comp"], refunded: [3, 6, "comp"],
};
const stepBoxes = {};
function buildFlow(steps) {
  const flow = $("#flow");
  for (const s of steps) {
    const [row, col, kind] = layout[s.name] || [3, 1, "comp"];
    const passed = el("div", { class: "passed" }, "0");
    const waiting = el("div", { class: "waiting" }, "");
    const box = el("div", { class: "step " + kind, id: "step-" + s.name }, el("div", { class: "name" }, s.name), passed, waiting);
    box.style.gridRow = row; box.style.gridColumn = col;
    flow.append(box);
    stepBoxes[s.name] = { passed, waiting };
  }
}

function renderFlow(steps) {
  if (!Object.keys(stepBoxes).length) buildFlow(steps);
  for (const s of steps) {
    const b = stepBoxes[s.name];
    if (!b) continue;
    b.passed.textContent = fmt(s.lastMinute);
    b.passed.dataset.value = s.lastMinute;
    b.waiting.dataset.value = s.waiting;
    b.waiting.textContent = s.name === "notified" ? "saga ends" : fmt(s.waiting) + " waiting";
    b.waiting.classList.toggle("busy", s.waiting > 0);
  }
}

const colors = { placed: "#5aa9f0", confirmed: "#4cc38a", cancelled: "#f06d6d" };
const reasonColors = ["#f0b54d", "#c792ea", "#ff9e64", "#7dcfff", "#e0af68", "#bb9af7"];
function renderChart(u) {
  const canvas = $("#chart");
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  // The newest second is still counting: draw the complete ones.
  const done = (a) => (a || []).slice(0, -1);
  const series = [
    ["placed", done(u.perSecond.place), colors.placed, []],
    ["confirmed", done(u.perSecond.confirmed), colors.confirmed, []],
    ["cancelled", done(u.perSecond.cancelled), colors.cancelled, []],
  ];
  Object.keys(u.cancelled || {}).sort().forEach((r, i) =>
    series.push(["cancelled: " + r, u.cancelled[r], reasonColors[i % reasonColors.length], [4, 3]]));
  const n = Math.max(...series.map((s) => s[1].length), 2);
  const top = Math.max(1, ...series.flatMap((s) => s[1])) * 1.1;
  const pad = { l: 36, r: 8, t: 8, b: 18 };
  const x = (i, len) => pad.l + ((n - len + i) / (n - 1)) * (w - pad.l - pad.r);
  const y = (v) => h - pad.b - (v / top) * (h - pad.t - pad.b);
  ctx.strokeStyle = "#2a3642"; ctx.fillStyle = "#8a98a8"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let k = 0; k <= 4; k++) {
    const v = (top / 4) * k;
    ctx.beginPath(); ctx.moveTo(pad.l, y(v)); ctx.lineTo(w - pad.r, y(v)); ctx.stroke();
    ctx.fillText(fmt(v), 4, y(v) + 4);
  }
  ctx.fillText("-" + n + " s", pad.l, h - 4); ctx.fillText("now", w - pad.r - 22, h - 4);
  for (const [, data, color, dash] of series) {
    ctx.strokeStyle = color; ctx.setLineDash(dash); ctx.lineWidth = 2; ctx.beginPath();
    data.forEach((v, i) => (i ? ctx.lineTo(x(i, data.length), y(v)) : ctx.moveTo(x(i, data.length), y(v))));
    ctx.stroke();
  }
  ctx.setLineDash([]);
  const last = (a) => (a.length ? a[a.length - 1] : 0);
  $("#legend").replaceChildren(...series.map(([name, data, color]) => {
    const i = el("i"); i.style.background = color;
    return el("span", { "data-series": name }, i, name + " " + fmt(last(data), 1) + "/s");
  }));
}

function renderFunctions(fns) {
  $("#functions tbody").replaceChildren(...fns.map((f) => el("tr", { "data-function": f.name },
    el("td", {}, f.name + (f.up ? "" : " (no metrics)")),
    el("td", { class: "num" + (f.lag > 0 ? " bad" : "") }, fmt(f.lag)),
    el("td", { class: "num" }, fmt(f.deliveriesPerSec, 1)),
    el("td", { class: "num" + (f.errorsPerSec > 0 ? " bad" : "") }, fmt(f.errors) + (f.errorsPerSec > 0 ? " (+" + fmt(f.errorsPerSec, 1) + "/s)" : "")),
    el("td", { class: "num" }, fmt(f.outboxBacklog)),
    el("td", { class: "num", title: f.lastScaling || "" },
      fmt(f.ready) + "/" + fmt(f.desired) + (f.coldStarts > 0 ? " (" + fmt(f.coldStarts) + " cold)" : "")))));
}

function renderStalled(u) {
  $("#stalled-count").textContent = fmt(u.stalledCount);
  $("#stalled-reported").textContent = fmt(u.reportedStalled);
  $("#followed").textContent = fmt(u.followed) + (u.untracked ? " (" + fmt(u.untracked) + " not followed: too many)" : "");
  $("#stalled tbody").replaceChildren(...(u.stalled || []).map((s) => el("tr", {},
    el("td", {}, orderLink(s.orderId)), el("td", {}, s.step), el("td", { class: "num" }, fmt(s.idleSec) + " s"))));
}

function orderLink(id) {
  if (!id) return "-";
  const a = el("a", { href: "#" }, id);
  a.addEventListener("click", (ev) => { ev.preventDefault(); $("#search-input").value = id; showOrder(id); });
  return a;
}

let letterKey = "";
function renderLetters(dl) {
  const counts = Object.entries(dl.counts || {}).sort();
  $("#dl-counts").textContent = counts.map(([f, n]) => f + " " + n).join(" · ") + (dl.error ? " · " + dl.error : "");
  const key = JSON.stringify(dl.newest);
  if (key === letterKey) return; // keep the rows (and a click in progress) while nothing changed
  letterKey = key;
  $("#dl-list tbody").replaceChildren(...(dl.newest || []).map((l) => {
    const show = el("button", { class: "show" }, "event");
    show.addEventListener("click", () => showLetter(l.id));
    const replay = el("button", { class: "replay" }, "replay");
    replay.addEventListener("click", () => replayLetter(l.id));
    return el("tr", { "data-id": l.id },
      el("td", {}, clock(l.time)), el("td", {}, l.function), el("td", {}, orderLink(l.orderId)),
      el("td", {}, l.type.replace("dev.orderflow.", "")), el("td", {}, l.code || "-"),
      el("td", { class: "reason" }, l.reason), el("td", { class: "num" }, String(l.replays)), el("td", {}, show, " ", replay));
  }));
}

async function showLetter(id) {
  const pre = $("#dl-event");
  const res = await fetch("api/deadletters/" + encodeURIComponent(id), { headers: auth });
  pre.textContent = JSON.stringify(await res.json(), null, 2);
  pre.hidden = false;
}

async function replayLetter(id) {
  const out = $("#dl-result");
  out.className = ""; out.textContent = "replaying " + id + "…";
  const res = await fetch("api/deadletters/" + encodeURIComponent(id) + "/replay", { method: "POST", headers: auth });
  const body = await res.json().catch(() => ({ error: "HTTP " + res.status }));
  out.className = res.ok ? "ok" : "err";
  out.textContent = res.ok ? "replayed " + id + " to " + body.to : id + ": " + body.error;
}

async function showOrder(id) {
  const box = $("#order");
  box.replaceChildren(el("p", { class: "dim" }, "looking up " + id + "…"));
  const res = await fetch("api/orders/" + encodeURIComponent(id), { headers: auth });
  const v = await res.json().catch(() => ({ error: "HTTP " + res.status }));
  if (!res.ok) { box.replaceChildren(el("p", { class: "bad", id: "order-error" }, v.error)); return; }
  const head = el("p", { id: "order-head" }, el("b", {}, v.orderId), " · " + v.status + (v.reason ? " (" + v.reason + ")" : "") +
    " · " + fmt(v.totalCents / 100, 2) + " " + (v.currency || ""));
  if (v.trace) head.append(" · ", el("a", { href: v.trace, target: "_blank", rel: "noopener" }, "trace in Jaeger"));
  let prev = null;
  const rows = (v.timeline || []).map((t) => {
    const at = new Date(t.time);
    const took = prev ? (at - prev) + " ms" : "";
    prev = at;
    return el("tr", { "data-type": t.type }, el("td", {}, clock(at) + "." + String(at.getMilliseconds()).padStart(3, "0")),
      el("td", { class: "num" }, took), el("td", {}, t.type.replace("dev.orderflow.", "")), el("td", {}, t.summary));
  });
  const table = el("table", { id: "timeline" }, el("thead", {}, el("tr", {}, el("th", {}, "time"), el("th", { class: "num" }, "after previous"),
    el("th", {}, "step"), el("th", {}, "what"))), el("tbody", {}, ...rows));
  box.replaceChildren(head, table);
}

$("#search").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const id = $("#search-input").value.trim();
  if (id) showOrder(id);
});

// What rendering costs, for the README's measurement (read with chromedp).
// longTasks counts main-thread tasks over 50 ms (the browser's own measure
// of a page that stutters).
// renders keeps the last 1,000 render times (ms).
window.dashStats = { updates: 0, renders: [], maxRenderMs: 0, bytes: 0, maxBytes: 0, builds: [], longTasks: 0 };
try {
  new PerformanceObserver((list) => { window.dashStats.longTasks += list.getEntries().length; }).observe({ type: "longtask" });
} catch (e) { /* not in every browser */ }
function render(data) {
  const t0 = performance.now();
  const u = JSON.parse(data);
  renderChart(u); // first: it reads the canvas's size, which after DOM writes would force a layout
  renderFlow(u.steps);
  renderFunctions(u.functions || []);
  $("#lag-error").textContent = u.lagError ? "lag unknown: " + u.lagError : "";
  renderStalled(u);
  renderLetters(u.deadLetters || {});
  $("#cost").textContent = "update " + clock(u.time) + " · server built the previous one in " +
    fmt(u.buildMillis, 1) + " ms, " + fmt(u.bytes / 1024, 1) + " KiB";
  const took = performance.now() - t0;
  const s = window.dashStats;
  s.updates++; s.maxRenderMs = Math.max(s.maxRenderMs, took);
  s.renders.push(took); s.builds.push(u.buildMillis);
  if (s.renders.length > 1000) { s.renders.shift(); s.builds.shift(); }
  s.bytes = data.length; s.maxBytes = Math.max(s.maxBytes, data.length);
}

const status = $("#status");
// The server-sent events are read with fetch, not EventSource, which cannot
// send the Authorization header; reconnects after a second, as EventSource does.
async function follow() {
  for (;;) {
    try {
      const res = await fetch("events", { headers: auth });
      if (!res.ok) throw new Error("HTTP " + res.status);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const data = buf.slice(0, end).split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          buf = buf.slice(end + 2);
          if (data) { status.className = "status on"; status.textContent = "live"; render(data); }
        }
      }
    } catch (e) { /* shown below, then retried */ }
    status.className = "status off"; status.textContent = "disconnected, retrying…";
    await new Promise((r) => setTimeout(r, 1000));
  }
}
follow();
