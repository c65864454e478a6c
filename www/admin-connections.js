// Provider connections: listed by fingerprint only; editing asks for the key again (or to remove
// it); an allowlist refusal says so.
import { api } from "./api.js";
import { $, el, button, on } from "./dom.js";
import { report } from "./errors.js";
import { fillGroupPicker } from "./admin-groups.js";

function keyText(key) {
  if (!key.set) return "no key";
  if (key.error) return `undecryptable (${key.storage})`;
  return `${key.fingerprint || "set (short key)"} · ${key.storage}`;
}

export async function loadConnections() {
  const { connections } = await api("GET", "/admin/connections");
  const body = $("connections-table").querySelector("tbody");
  body.replaceChildren();
  for (const c of connections) {
    const tr = el("tr");
    const limited = c.allowed_groups.length ? ` · ${c.allowed_groups.length} group(s) only` : "";
    tr.append(el("td", c.name + limited), el("td", c.kind));
    const url = el("td");
    url.append(el("code", c.base_url));
    tr.append(url, el("td", keyText(c.api_key), { "data-fingerprint": c.api_key.fingerprint || "" }));
    const actions = el("td");
    const edit = button("Edit", { "aria-label": `Edit ${c.name}` });
    on(edit, "click", () => editConnection(c));
    const del = button("Delete", { class: "danger", "aria-label": `Delete ${c.name}` });
    on(del, "click", async () => {
      if (!confirm(`Delete ${c.name}?`)) return;
      await api("DELETE", `/admin/connections/${c.id}`);
      await loadConnections();
    });
    actions.append(edit, " ", del);
    tr.append(actions);
    body.append(tr);
  }
  if (!$("conn-id").value) await fillGroupPicker([]);
}

async function editConnection(c) {
  await fillGroupPicker(c.allowed_groups);
  $("connection-form-title").textContent = `Edit ${c.name}`;
  $("conn-id").value = c.id;
  $("conn-name").value = c.name;
  $("conn-kind").value = c.kind;
  $("conn-base").value = c.base_url;
  $("conn-version").value = c.api_version || "";
  $("conn-key").value = "";
  $("conn-clear").checked = false;
  $("conn-key-hint").textContent = "Saving needs the key again (it is never shown), or tick “Remove the stored key”.";
  $("conn-cancel").hidden = false;
  $("conn-name").focus();
}

function resetConnectionForm() {
  $("connection-form").reset();
  for (const option of $("conn-groups").options) option.selected = false;
  $("conn-id").value = "";
  $("connection-form-title").textContent = "Add a connection";
  $("conn-key-hint").textContent = "The key is never shown again: only its fingerprint.";
  $("conn-cancel").hidden = true;
}

export function initConnections() {
  on($("conn-cancel"), "click", resetConnectionForm);
  on($("connection-form"), "submit", async (event) => {
    event.preventDefault();
    const box = $("connection-error");
    box.textContent = "";
    const body = { name: $("conn-name").value, kind: $("conn-kind").value, base_url: $("conn-base").value };
    if ($("conn-version").value) body.api_version = $("conn-version").value;
    body.allowed_groups = [...$("conn-groups").selectedOptions].map((o) => Number(o.value));
    if ($("conn-clear").checked) body.clear_api_key = true; else if ($("conn-key").value) body.api_key = $("conn-key").value;
    const id = $("conn-id").value;
    try {
      await api(id ? "PUT" : "POST", id ? `/admin/connections/${id}` : "/admin/connections", body);
      resetConnectionForm();
      await loadConnections();
    } catch (e) {
      const prefix = e.code === "base_url_not_allowed"
        ? "Refused: this base URL is not on the operator's allowlist (OPENAI_ALLOWED_API_BASE_URLS). " : "";
      report(e, { into: box, prefix });
    } finally {
      $("conn-key").value = "";
    }
  });
}
