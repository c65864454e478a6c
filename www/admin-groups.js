// Groups (admins): local groups with their members and quota; groups from sign-in (oidc) show
// their members and take only a quota here. Also fills the connection form's group picker.
import { api } from "./api.js";
import { $, el, button, on } from "./dom.js";
import { report } from "./errors.js";

let editing = null;

function memberNames(ids, emails) {
  return ids.length ? ids.map((id) => emails.get(id) || `#${id}`).join(", ") : "nobody";
}

export async function loadGroups() {
  const [{ groups }, { users }] = await Promise.all([api("GET", "/admin/groups"), api("GET", "/admin/users")]);
  const emails = new Map(users.map((u) => [u.id, u.email]));
  const body = $("groups-table").tBodies[0];
  body.replaceChildren();
  for (const g of groups) {
    const tr = el("tr", null, { "data-group": g.name });
    tr.append(el("td", g.name), el("td", g.source), el("td", memberNames(g.members, emails)),
      el("td", g.daily_token_quota === null ? "none" : Number(g.daily_token_quota).toLocaleString("en")));
    const actions = el("td");
    const edit = button("Edit", { "aria-label": `Edit group ${g.name}` });
    on(edit, "click", () => editGroup(g, users));
    const del = button("Delete", { class: "danger", "aria-label": `Delete group ${g.name}` });
    on(del, "click", async () => {
      if (!confirm(`Delete the group ${g.name}? Connections limited to it stay closed to its former members.`)) return;
      await api("DELETE", `/admin/groups/${g.id}`);
      await loadGroups();
    });
    actions.append(edit, " ", del);
    tr.append(actions);
    body.append(tr);
  }
  if (!editing) fillMembers(users, [], false);
}

function fillMembers(users, selected, locked) {
  const box = $("group-members");
  box.replaceChildren(el("legend", locked ? "Members (from sign-in)" : "Members"));
  for (const u of users) {
    const id = `group-member-${u.id}`;
    const input = el("input", null, { type: "checkbox", id, value: String(u.id) });
    input.checked = selected.includes(u.id);
    input.disabled = locked;
    const label = el("label", null, { for: id, class: "check" });
    label.append(input, " ", u.email);
    box.append(label);
  }
}

function editGroup(g, users) {
  editing = g;
  $("group-form-title").textContent = `Edit ${g.name}`;
  $("group-id").value = g.id;
  $("group-name").value = g.name;
  $("group-name").disabled = g.source === "oidc";
  $("group-quota").value = g.daily_token_quota === null ? "" : String(g.daily_token_quota);
  fillMembers(users, g.members, g.source === "oidc");
  $("group-cancel").hidden = false;
  (g.source === "oidc" ? $("group-quota") : $("group-name")).focus();
}

async function resetForm() {
  editing = null;
  $("group-form").reset();
  $("group-id").value = "";
  $("group-name").disabled = false;
  $("group-form-title").textContent = "Add a group";
  $("group-cancel").hidden = true;
  await loadGroups();
}

async function save(event) {
  event.preventDefault();
  const box = $("group-error");
  box.textContent = "";
  const quota = $("group-quota").value.trim();
  const body = { daily_token_quota: quota === "" ? null : Number(quota) };
  if (!editing || editing.source === "local") {
    body.name = $("group-name").value;
    body.members = [...$("group-members").querySelectorAll("input:checked")].map((i) => Number(i.value));
  }
  const id = $("group-id").value;
  try {
    if (id) await api("PATCH", `/admin/groups/${id}`, body);
    else await api("POST", "/admin/groups", body.daily_token_quota === null ? { name: body.name, members: body.members } : body);
  } catch (e) {
    report(e, { into: box });
    return;
  }
  await resetForm();
}

// The connection form's picker: every group, the connection's own selected.
export async function fillGroupPicker(selected = []) {
  const { groups } = await api("GET", "/admin/groups");
  const select = $("conn-groups");
  select.replaceChildren();
  for (const g of groups) {
    const option = el("option", `${g.name} (${g.source})`, { value: String(g.id) });
    option.selected = selected.includes(g.id);
    select.append(option);
  }
  for (const id of selected.filter((id) => !groups.some((g) => g.id === id))) {
    const option = el("option", `deleted group #${id} (lets nobody in)`, { value: String(id) });
    option.selected = true;
    select.append(option);
  }
}

export function initGroups() {
  on($("group-form"), "submit", save);
  on($("group-cancel"), "click", resetForm);
}
