// The open conversation: showing a chat, asking a question and streaming its answer, Stop,
// Regenerate, and failures shown inline next to the answer they belong to, with a Retry.
import { api, stream, ApiError, ConnectionLost } from "./api.js";
import { $, el, announce } from "./dom.js";
import { report } from "./errors.js";
import { state } from "./state.js";
import { messageNode, fill, setStatus, showThinking, addCopy, offerRegenerate } from "./messages.js";
import { setBusy, focusPrompt } from "./composer.js";

let hooks = { created: async () => {}, finished: async () => {} };

// created(chat): a chat was made for the first question; finished(): an answer ended.
export function initConversation(h) { hooks = h; }

export function renderConversation(chat) {
  const list = $("messages");
  list.replaceChildren();
  $("chat-heading").textContent = chat && chat.title ? chat.title : "New chat";
  if (!chat) return;
  const messages = chat.messages || [];
  messages.forEach((m, i) => {
    const node = messageNode(m);
    list.append(node);
    if (i === messages.length - 1 && m.role === "assistant" && i > 0 && messages[i - 1].role === "user") {
      const question = messages[i - 1].content;
      offerRegenerate(list, node, () => ask(question));
    }
  });
}

export async function ask(content) {
  if (state.inFlight) return;
  const model = $("model").value;
  if (!state.current) {
    const chat = await api("POST", "/chats", model ? { model } : {});
    state.current = chat.id;
    await hooks.created(chat);
  }
  const chatId = state.current;
  const list = $("messages");
  const question = messageNode({ role: "user", content });
  const answer = messageNode({ role: "assistant", content: "", model, status: "thinking" });
  showThinking(answer);
  list.append(question, answer);
  answer.scrollIntoView({ block: "nearest" });
  state.inFlight = { chatId };
  setBusy(true);
  let outcome;
  try {
    outcome = await streamAnswer(chatId, content, model, answer);
  } catch (e) {
    outcome = { failure: e };
  } finally {
    state.inFlight = null;
    answer.classList.remove("thinking");
    answer.removeAttribute("aria-busy");
    answer.dataset.complete = "true";
    setBusy(false);
  }
  // Asking again keeps an answer that was stored (stopped, cut, lost midway) and drops a refused one.
  const retry = () => {
    if (outcome.refused) { answer.remove(); question.remove(); }
    for (const b of answer.querySelectorAll("button.retry")) b.remove();
    return ask(content);
  };
  if (outcome.failure) showFailure(answer, outcome, retry);
  if (answer.content) addCopy(answer);
  // A failure already offers Retry next to its message: one way to ask again is enough.
  if (answer.isConnected && !outcome.failure) offerRegenerate(list, answer, retry);
  announce(outcome.failure ? "The answer did not finish." : answer.classList.contains("stopped") ? "Answer stopped." : "Answer complete.");
  focusPrompt();
  await hooks.finished();
}

// Reads the answer's events into the bubble. Returns {failure?, refused?}: refused means the
// service said no before it stored anything (the question is not in the chat).
async function streamAnswer(chatId, content, model, answer) {
  let text = "";
  let ended = false;
  let painting = false;
  // Deltas can come faster than frames: render the Markdown at most once per frame.
  const paint = () => {
    if (painting) return;
    painting = true;
    requestAnimationFrame(() => { painting = false; if (!ended) follow(() => fill(answer, text)); });
  };
  try {
    await stream(`/chats/${chatId}/messages`, { content, model, stream: true }, (event) => {
      if (event.type === "delta") {
        answer.classList.remove("thinking");
        text += event.text;
        paint();
      } else if (event.type === "reasoning") {
        answer.classList.remove("thinking");
        let r = answer.querySelector(".reasoning");
        if (!r) { r = el("p", "", { class: "reasoning" }); answer.insertBefore(r, answer.querySelector(".body")); }
        r.textContent += event.text;
      } else if (event.type === "done" || event.type === "error") {
        ended = true;
        const stored = event.message;
        fill(answer, stored ? stored.content : text);
        setStatus(answer, stored ? stored.status : "incomplete");
        if (event.type === "error") throw Object.assign(new ApiError(502, { error: event.error }), { midway: true });
      }
    });
  } catch (e) {
    if (e instanceof ApiError && !e.midway) return { failure: e, refused: true };
    if (e instanceof ConnectionLost) { fill(answer, text); setStatus(answer, "incomplete"); }
    return { failure: e };
  }
  if (!ended) {
    // The stream closed without done or error: nginx lost the responder, or it restarted.
    fill(answer, text);
    setStatus(answer, "incomplete");
    return { failure: new ConnectionLost() };
  }
  return {};
}

function showFailure(answer, outcome, retry) {
  const box = answer.querySelector(".error-box");
  const e = outcome.failure;
  if (outcome.refused) {
    answer.querySelector(".body").replaceChildren();
    setStatus(answer, null);
    answer.classList.add("refused");
    report(e, { into: box, retry, prefix: "The service did not take this message: " });
  } else if (e instanceof ConnectionLost) {
    report(e, { into: box, retry });
  } else {
    report(e, { into: box, retry, prefix: "The answer stopped early: " });
  }
}

// Keeps the newest text in view while it grows, unless the person scrolled up to read.
function follow(change) {
  const list = $("messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
  change();
  if (atBottom) list.scrollTop = list.scrollHeight;
}

// Stop: the service ends the answer within a second; the stream then ends with done, carrying
// what arrived, stored as stopped.
export async function stop() {
  if (!state.inFlight) return;
  const b = $("stop");
  b.disabled = true;
  b.textContent = "Stopping";
  try {
    await api("POST", `/chats/${state.inFlight.chatId}/stop`);
  } catch (e) {
    b.disabled = false;
    b.textContent = "Stop";
    throw e;  // dom.on reports it
  }
}
