// The admin's audit page: filters (action, actor, time), a table newest first with a cursor for
// older events, and a detail view of an event's before and after. Every row's "Details" is a
// real button, so each event is reachable by keyboard. Server text is only ever textContent.
import { api } from "./api.js";
import { $, el, on } from "./dom.js";
import { report } from "./errors.js";
const ACTIONS = ["auth.login", "auth.login_failed", "auth.logout", "token.create", "token.revoke", "user.create", "user.update",
  "user.delete", "connection.create", "connection.update", "connection.delete", "group.create", "group.update", "group.delete",
  "config.update", "config.import",
  "config.export", "pipe.valves_update", "secrets.reencrypt", "files.fetch_refused", "chat.delete", "retention.cleanup"];
let cursor = null;
let wired = false;


function say(message) { $("audit-status").textContent = message; }


// The filters as the endpoint's query; datetime-local inputs are the browser's local time.
function query(before) {
  const params = new URLSearchParams({ limit: "50" });
  const action = $("audit-action").value;
  const actor = $("audit-actor").value.trim();
  if (action) params.set("action", action);
  if (actor) params.set("actor", actor);
  for (const [name, id] of [["since", "audit-since"], ["until", "audit-until"]]) {
    const value = $(id).value;
    if (value) params.set(name, String(Math.floor(new Date(value).getTime() / 1000)));
  }
  if (before) params.set("before", String(before));
  return "/admin/audit?" + params.toString();
}

function actorText(actor) {
  if (actor.type === "operator" || actor.type === "system") return actor.type;
  return actor.email ? `${actor.email} (${actor.type})` : actor.type;
}

function targetText(target) {
  return [target.type, target.name || (target.id ? "#" + target.id : "")].filter(Boolean).join(" ");
}

// One line per changed field: before → after, or a secret's change and fingerprint.
function detailRows(details, prefix = "") {
  const rows = [];
  for (const [key, value] of Object.entries(details || {})) {
    const name = prefix + key;
    if (value && typeof value === "object" && !Array.isArray(value)) {
      if ("before" in value || "after" in value) rows.push([name, JSON.stringify(value.before), JSON.stringify(value.after)]);
      else if ("change" in value) rows.push([name, "", `${value.change}${value.fingerprint ? " " + value.fingerprint : ""}`]);
      else rows.push(...detailRows(value, name + "."));
    } else {
      rows.push([name, "", JSON.stringify(value)]);
    }
  }
  return rows;
}

function showDetail(event, button) {
  const box = $("audit-detail");
  box.replaceChildren();
  box.append(el("h3", `Event ${event.id}: ${event.action} (${event.outcome})`));
  const facts = el("dl", null, { class: "facts" });
  const when = new Date(event.ts * 1000).toISOString();
  for (const [k, v] of [["Time", when], ["Actor", actorText(event.actor)], ["Client", event.client || ""],
    ["Target", targetText(event.target)], ["Request", event.request_id || ""], ["Key", event.key_id]]) {
    facts.append(el("dt", k), el("dd", v));
  }
  box.append(facts);
  const table = el("table");
  const head = el("tr");
  for (const h of ["Field", "Before", "After"]) head.append(el("th", h, { scope: "col" }));
  table.append(el("thead"), el("tbody"));
  table.tHead.append(head);
  const rows = detailRows(event.details);
  for (const [field, before, after] of rows) {
    const tr = el("tr");
    tr.append(el("td", field), el("td", before), el("td", after));
    table.tBodies[0].append(tr);
  }
  if (rows.length) box.append(table); else box.append(el("p", "No details.", { class: "note" }));
  const back = el("button", "Back to the list", { type: "button" });
  on(back, "click", () => { box.hidden = true; button.focus(); });
  box.append(back);
  box.hidden = false;
  box.focus();
}

function appendRows(events) {
  const body = $("audit-table").tBodies[0];
  for (const event of events) {
    const tr = el("tr");
    tr.append(el("td", new Date(event.ts * 1000).toISOString().replace("T", " ").slice(0, 19)), el("td", actorText(event.actor)),
      el("td", event.action), el("td", targetText(event.target)), el("td", event.outcome, { class: "outcome-" + event.outcome }));
    const cell = el("td");
    const button = el("button", "Details", { type: "button", "aria-label": `Details of event ${event.id}` });
    on(button, "click", () => showDetail(event, button));
    cell.append(button);
    tr.append(cell);
    body.append(tr);
  }
}

async function load(more) {
  if (!more) { $("audit-table").tBodies[0].replaceChildren(); $("audit-detail").hidden = true; cursor = null; }
  try {
    const page = await api("GET", query(more ? cursor : null));
    appendRows(page.events);
    cursor = page.next_before;
    $("audit-more").hidden = cursor === null;
    const shown = $("audit-table").tBodies[0].rows.length;
    say(shown ? `${shown} event(s) shown, newest first.` : "No events match.");
  } catch (e) {
    report(e, { into: $("audit-status"), prefix: "The audit trail could not be read: ", retry: () => load(more) });
  }
}

export async function loadAudit() {
  if (!wired) {
    const select = $("audit-action");
    for (const action of ACTIONS) select.append(el("option", action, { value: action }));
    on($("audit-filters"), "submit", (event) => { event.preventDefault(); return load(false); });
    on($("audit-more"), "click", () => load(true));
    wired = true;
  }
  await load(false);
}
