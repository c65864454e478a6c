// The chat view: loading chats and models, opening a chat (with the model it last used), New
// chat, and wiring the list, the composer, Stop and search together.
import { api } from "./api.js";
import { $, el, on } from "./dom.js";
import { report, notify } from "./errors.js";
import { state } from "./state.js";
import { renderChatList, initChatList } from "./chatlist.js";
import { renderConversation, ask, stop, initConversation } from "./conversation.js";
import { initComposer } from "./composer.js";
import { initSearch } from "./search.js";

export async function loadChatView() {
  const [chats, models] = await Promise.all([api("GET", "/chats"), loadModels()]);
  state.chats = chats.chats;
  state.models = models.data.map((m) => m.id);
  state.defaultModel = models.default_model || null;
  const select = $("model");
  select.replaceChildren();
  for (const id of state.models) select.append(el("option", id, { value: id }));
  notify(state.models.length ? "" : "No models are available: an admin must add a connection.");
  renderChatList();
  if (state.current) await openChat(state.current);
  else { renderConversation(null); pickModel(null); }
}

// A failed model list is shown, and the rest of the view still works.
async function loadModels() {
  try {
    return await api("GET", "/models");
  } catch (e) {
    report(e, { prefix: "The model list could not be loaded: ", retry: loadChatView });
    return { data: [] };
  }
}

// The model a chat uses: one picked here and not yet sent, else the chat's last (the server keeps
// it with the chat), else the service's default.
function pickModel(chat) {
  const wanted = (chat && (state.modelChoice.get(chat.id) || chat.model)) || state.modelChoice.get(null) || state.defaultModel;
  const select = $("model");
  if (wanted && state.models.includes(wanted)) select.value = wanted;
}

export async function openChat(id) {
  state.current = id;
  const chat = await api("GET", `/chats/${id}`);
  if (state.current !== id) return;  // another chat was opened meanwhile
  renderConversation(chat);
  pickModel(chat);
  renderChatList();
}

async function newChat() {
  state.current = null;
  renderConversation(null);
  pickModel(null);
  renderChatList();
  $("prompt").focus();
}

// After an answer: the list's order and titles (the first message titles a chat) are fresh.
async function refreshList() {
  state.chats = (await api("GET", "/chats")).chats;
  renderChatList();
  const open = state.chats.find((c) => c.id === state.current);
  if (open && open.title) $("chat-heading").textContent = open.title;
}

export function initChat() {
  on($("new-chat"), "click", newChat);
  on($("stop"), "click", stop);
  on($("model"), "change", () => { state.modelChoice.set(state.current, $("model").value); });
  initComposer(ask);
  initConversation({
    created: async (chat) => {
      state.modelChoice.delete(null);
      state.chats.unshift(chat);
      renderChatList();
    },
    finished: refreshList,
  });
  initChatList({
    open: openChat,
    deleted: async (id) => { if (state.current === id) await newChat(); },
  });
  initSearch(openChat);
}
