// The sidebar's chats, grouped by when they were last used (today, yesterday, the last 7 days,
// older), each with Rename and Delete (Delete asks first, in place).
import { api } from "./api.js";
import { $, el, button, on } from "./dom.js";
import { state } from "./state.js";

let actions = { open: async () => {}, deleted: async () => {} };

// open(id): show a chat; deleted(id): a chat is gone.
export function initChatList(a) { actions = a; }

const day = 86400;

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.getTime() / 1000;
}

export function groupOf(updatedAt, today = startOfToday()) {
  if (updatedAt >= today) return "Today";
  if (updatedAt >= today - day) return "Yesterday";
  if (updatedAt >= today - 7 * day) return "Previous 7 days";
  return "Older";
}

export function renderChatList() {
  const nav = $("chat-list");
  nav.replaceChildren();
  if (!state.chats.length) { nav.append(el("p", "No chats yet.", { class: "hint" })); return; }
  const groups = new Map();
  for (const chat of state.chats) {
    const name = groupOf(chat.updated_at || chat.created_at || 0);
    if (!groups.has(name)) groups.set(name, []);
    groups.get(name).push(chat);
  }
  let n = 0;
  for (const [name, chats] of groups) {
    const id = `chat-group-${n++}`;
    const ul = el("ul", null, { class: "list chats", "aria-labelledby": id });
    for (const chat of chats) ul.append(chatItem(chat));
    nav.append(el("h3", name, { id, class: "group" }), ul);
  }
}

const titleOf = (chat) => chat.title || "Untitled chat";

function chatItem(chat) {
  const li = el("li", null, { class: "chat-item" + (state.current === chat.id ? " active" : "") });
  const open = button(titleOf(chat), { class: "link open" });
  if (state.current === chat.id) open.setAttribute("aria-current", "page");
  on(open, "click", () => actions.open(chat.id));
  const rename = button("Rename", { class: "small", "aria-label": `Rename “${titleOf(chat)}”` });
  on(rename, "click", () => startRename(li, chat));
  const del = button("Delete", { class: "small danger", "aria-label": `Delete “${titleOf(chat)}”` });
  on(del, "click", () => confirmDelete(li, chat));
  const tools = el("span", null, { class: "item-actions" });
  tools.append(rename, del);
  li.append(open, tools);
  return li;
}

function startRename(li, chat) {
  const form = el("form", null, { class: "rename" });
  const inputId = `rename-${chat.id}`;
  const input = el("input", null, { id: inputId, maxlength: "200", type: "text" });
  input.value = chat.title || "";
  const cancel = button("Cancel", { class: "small" });
  form.append(el("label", "New title", { for: inputId, class: "visually-hidden" }), input,
    el("button", "Save", { type: "submit", class: "small primary" }), cancel);
  on(form, "submit", async (event) => {
    event.preventDefault();
    const updated = await api("PATCH", `/chats/${chat.id}`, { title: input.value.trim() });
    Object.assign(chat, updated);
    if (state.current === chat.id) $("chat-heading").textContent = titleOf(updated);
    focusChat(chat.id);
  });
  on(cancel, "click", () => focusChat(chat.id));
  on(input, "keydown", (event) => { if (event.key === "Escape") focusChat(chat.id); });
  li.replaceChildren(form);
  input.focus();
  input.select();
}

function confirmDelete(li, chat) {
  const question = el("p", `Delete “${titleOf(chat)}”? This cannot be undone.`, { class: "confirm-text" });
  const yes = button("Delete", { class: "small danger-solid" });
  const no = button("Cancel", { class: "small" });
  on(yes, "click", async () => {
    await api("DELETE", `/chats/${chat.id}`);
    state.chats = state.chats.filter((c) => c.id !== chat.id);
    await actions.deleted(chat.id);
    renderChatList();
    $("new-chat").focus();
  });
  on(no, "click", () => focusChat(chat.id));
  li.replaceChildren(question, yes, no);
  li.classList.add("confirming");
  no.focus();
}

// Redraws the list and puts focus back on the chat's own button.
function focusChat(id) {
  renderChatList();
  const items = [...$("chat-list").querySelectorAll("button.open")];
  const index = state.chats.findIndex((c) => c.id === id);
  if (items[index]) items[index].focus();
}
