// Export and import (a dry run shows what would change and which secrets would be dropped;
// Apply sends the same document for real), and the OpenRouter pipe's valves.
import { api } from "./api.js";
import { $, el, on } from "./dom.js";
import { report } from "./errors.js";

let pendingImport = null;

function importSummary(r) {
  const parts = [`${r.applied ? "Applied" : "Dry run"}: ${r.created} to create, ${r.updated} to update`];
  if (r.settings_changed) parts.push("settings change");
  if (r.dropped_secrets.length) parts.push(`secrets dropped (no encryption key on the server): ${r.dropped_secrets.join(", ")}`);
  return parts.join("; ") + ".";
}

async function preview(event) {
  event.preventDefault();
  const out = $("import-result");
  out.replaceChildren();
  $("import-apply").disabled = true;
  let doc;
  try {
    doc = JSON.parse($("import-doc").value);
  } catch (e) {
    report(e, { into: out, prefix: "This is not valid JSON: " });
    return;
  }
  try {
    const r = await api("POST", "/admin/config/import?dry_run=true", doc);
    out.textContent = importSummary(r);
    pendingImport = doc;
    $("import-apply").disabled = false;
  } catch (e) {
    report(e, { into: out, prefix: "Nothing would be imported: " });
    const ul = el("ul");
    for (const p of e.problems || []) ul.append(el("li", `${p.path}: ${p.message}`));
    out.append(ul);
  }
}

async function apply() {
  if (!pendingImport) return;
  const doc = pendingImport;
  pendingImport = null;
  $("import-apply").disabled = true;
  try {
    $("import-result").textContent = importSummary(await api("POST", "/admin/config/import", doc));
  } catch (e) {
    report(e, { into: $("import-result") });
  }
}

function secretHint(value) {
  return `set: ${value.fingerprint || "hidden"} (${value.storage})${value.error ? " — undecryptable, enter again" : ""}`;
}

export async function loadValves() {
  const { valves } = await api("GET", "/admin/pipes/openrouter/valves");
  const form = $("valves-form");
  form.replaceChildren();
  for (const [name, value] of Object.entries(valves)) {
    const id = `valve-${name}`;
    form.append(el("label", name, { for: id }));
    let input;
    if (Array.isArray(value)) {
      // allowed_groups: group ids, comma separated (the Groups tab lists them).
      input = el("input", null, { id, inputmode: "numeric", "data-list": "true", placeholder: "empty: every user" });
      input.value = value.join(", ");
    } else if (value !== null && typeof value === "object") {
      input = el("input", null, { id, type: "password", autocomplete: "off", "data-secret": "true",
        placeholder: value.set ? secretHint(value) : "not set" });
    } else if (typeof value === "boolean") {
      input = el("select", null, { id });
      for (const v of ["true", "false"]) input.append(el("option", v, { value: v }));
      input.value = String(value);
    } else {
      input = el("input", null, { id });
      input.value = String(value);
    }
    input.dataset.name = name;
    input.dataset.original = Array.isArray(value) ? input.value : typeof value === "object" ? "" : String(value);
    form.append(input);
  }
  form.append(el("button", "Save valves", { type: "submit", class: "primary" }));
}

async function saveValves(event) {
  event.preventDefault();
  const valves = {};
  for (const input of $("valves-form").querySelectorAll("[data-name]")) {
    const v = input.value;
    if (input.dataset.secret) { if (v) valves[input.dataset.name] = v; continue; }
    if (v === input.dataset.original) continue;
    if (input.dataset.list) { valves[input.dataset.name] = v.split(",").map((x) => x.trim()).filter(Boolean).map(Number); continue; }
    valves[input.dataset.name] = v === "true" ? true : v === "false" ? false : /^\d+$/.test(v) ? Number(v) : v;
  }
  try {
    await api("PUT", "/admin/pipes/openrouter/valves", { valves });
    $("valves-result").textContent = "Saved.";
  } catch (e) {
    report(e, { into: $("valves-result") });
    return;
  }
  await loadValves();
}

export function initConfig() {
  on($("import-form"), "submit", preview);
  on($("import-apply"), "click", apply);
  on($("valves-form"), "submit", saveValves);
}
