// Usage: tokens per UTC day, as a small bar chart (inline SVG made with DOM calls: no library,
// nothing inline for the CSP to refuse) with the table beside it. The person's own view reads
// GET /usage; the admin's tab reads GET /admin/usage with an optional user. Server text is only
// ever textContent.
import { api } from "./api.js";
import { $, el, on } from "./dom.js";
import { report } from "./errors.js";

const SVG = "http://www.w3.org/2000/svg";
const DAY_MS = 86400000;

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

const number = (n) => Number(n).toLocaleString("en");

// Every day from since to until (inclusive), so days without use show as empty bars.
function days(since, until) {
  const out = [];
  for (let t = Date.parse(since + "T00:00:00Z"); t <= Date.parse(until + "T00:00:00Z") && out.length < 400; t += DAY_MS) {
    out.push(new Date(t).toISOString().slice(0, 10));
  }
  return out;
}

// Prompt and completion tokens per day, stacked; each bar says its figures in a <title>.
export function drawChart(figure, rows, since, until, label) {
  const totals = new Map(days(since, until).map((d) => [d, { prompt: 0, completion: 0, estimated: 0 }]));
  for (const r of rows) {
    const t = totals.get(r.day);
    if (!t) continue;
    t.prompt += r.prompt_tokens;
    t.completion += r.completion_tokens;
    t.estimated += r.estimated_requests || 0;
  }
  const entries = [...totals.entries()];
  const max = Math.max(2, ...entries.map(([, t]) => t.prompt + t.completion));
  const width = 640, height = 220, left = 56, bottom = 28, top = 10;
  const plot = height - bottom - top;
  const step = (width - left - 8) / Math.max(1, entries.length);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "usage-svg",
    "aria-label": `${label}: tokens per day from ${since} to ${until}, at most ${number(max)} on one day` });
  chart.append(svg("title", {}, `${label}: tokens per day`));
  for (const fraction of [0, 0.5, 1]) {
    const y = top + plot - fraction * plot;
    chart.append(svg("line", { x1: left, x2: width - 4, y1: y, y2: y, class: "grid" }));
    chart.append(svg("text", { x: left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, number(Math.round(max * fraction))));
  }
  const every = Math.ceil(entries.length / 8);
  entries.forEach(([day, t], i) => {
    const x = left + i * step + step * 0.15;
    const w = Math.max(1, step * 0.7);
    const hp = (t.prompt / max) * plot;
    const hc = (t.completion / max) * plot;
    const group = svg("g", { class: "bar", "data-day": day });
    group.append(svg("title", {}, `${day}: ${number(t.prompt)} prompt + ${number(t.completion)} completion tokens`
      + (t.estimated ? ` (≈ ${t.estimated} estimated)` : "")));
    group.append(svg("rect", { x, y: top + plot - hp, width: w, height: hp, class: "prompt" }));
    group.append(svg("rect", { x, y: top + plot - hp - hc, width: w, height: hc, class: "completion" }));
    chart.append(group);
    if (i % every === 0) chart.append(svg("text", { x: x + w / 2, y: height - 8, class: "axis", "text-anchor": "middle" }, day.slice(5)));
  });
  const legend = el("figcaption");
  legend.append(el("span", "prompt", { class: "key prompt" }), " ", el("span", "completion", { class: "key completion" }),
    ` tokens per UTC day, ${since} to ${until}`);
  figure.replaceChildren(chart, legend);
}

// The table: one row per day (and user) and model; estimated figures marked with ≈.
export function fillTable(table, rows, withUser) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const r of [...rows].reverse()) {
    const tr = el("tr");
    const mark = r.estimated_requests ? "≈ " : "";
    tr.append(el("td", r.day));
    if (withUser) tr.append(el("td", r.user_email || String(r.user_id)));
    tr.append(el("td", r.model), el("td", number(r.requests)), el("td", mark + number(r.prompt_tokens)),
      el("td", mark + number(r.completion_tokens)));
    if (r.estimated_requests) tr.title = `${r.estimated_requests} of ${r.requests} answer(s) estimated: the provider sent no usage`;
    body.append(tr);
  }
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", "No usage in this range.", { colspan: withUser ? "6" : "5" }));
    body.append(tr);
  }
}

function range(sinceId, untilId) {
  const params = new URLSearchParams();
  if ($(sinceId).value) params.set("since", $(sinceId).value);
  if ($(untilId).value) params.set("until", $(untilId).value);
  return params;
}

export async function loadUsage() {
  const status = $("usage-quota");
  try {
    const r = await api("GET", "/usage?" + range("usage-since", "usage-until").toString());
    $("usage-since").value = r.since;
    $("usage-until").value = r.until;
    drawChart($("usage-chart"), r.usage, r.since, r.until, "Your usage");
    fillTable($("usage-table"), r.usage, false);
    if (r.quota) {
      const hours = Math.ceil(r.quota.resets_in_seconds / 3600);
      status.textContent = `Today: ${number(r.quota.used_today)} of your ${number(r.quota.daily_token_quota)} daily tokens used`
        + (r.quota.reserved_today ? `, ${number(r.quota.reserved_today)} reserved by answers in flight` : "")
        + `; the quota renews in about ${hours} hour(s) (midnight UTC).`;
    } else {
      status.textContent = "No daily token quota applies to you.";
    }
  } catch (e) {
    report(e, { into: status, prefix: "Usage could not be read: ", retry: loadUsage });
  }
}

let adminUsers = new Map();

export async function loadAdminUsage() {
  const status = $("admin-usage-status");
  const params = range("admin-usage-since", "admin-usage-until");
  const user = $("admin-usage-user").value.trim();
  if (user) params.set("user", user);
  try {
    const [r, { users }] = await Promise.all([api("GET", "/admin/usage?" + params.toString()), api("GET", "/admin/users")]);
    adminUsers = new Map(users.map((u) => [u.id, u.email]));
    const rows = r.usage.map((row) => ({ ...row, user_email: adminUsers.get(row.user_id) }));
    $("admin-usage-since").value = r.since;
    $("admin-usage-until").value = r.until;
    drawChart($("admin-usage-chart"), rows, r.since, r.until, user ? `Usage of ${user}` : "Usage of everyone");
    fillTable($("admin-usage-table"), rows, true);
    status.textContent = `${rows.length} row(s).`;
  } catch (e) {
    report(e, { into: status, prefix: "Usage could not be read: " });
  }
}

export function initUsage() {
  on($("usage-filters"), "submit", (event) => { event.preventDefault(); return loadUsage(); });
  on($("admin-usage-filters"), "submit", (event) => { event.preventDefault(); return loadAdminUsage(); });
}
