// The message box: Enter sends, Shift+Enter breaks the line, the box grows with its text, and
// while an answer streams it is disabled and Stop takes the place of Send.
import { $, on } from "./dom.js";

const maxHeight = () => Math.max(120, window.innerHeight * 0.4);

export function grow() {
  const box = $("prompt");
  box.style.height = "auto";  // CSSOM, allowed by the CSP (only style attributes in markup are not)
  box.style.height = Math.min(box.scrollHeight + 2, maxHeight()) + "px";
}

export function initComposer(send) {
  const box = $("prompt");
  on(box, "input", grow);
  on(box, "keydown", (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    $("compose").requestSubmit();
  });
  on($("compose"), "submit", async (event) => {
    event.preventDefault();
    const content = box.value.trim();
    if (!content || $("send").disabled) return;
    box.value = "";
    grow();
    try {
      await send(content);
    } catch (e) {
      if (!box.value) { box.value = content; grow(); }  // not sent: the words are not lost
      throw e;
    }
  });
}

// busy: the composer is locked and Stop is offered (and focused, so Enter or Space stops).
export function setBusy(busy) {
  const stop = $("stop");
  $("prompt").disabled = busy;
  $("send").disabled = busy;
  $("send").hidden = busy;
  stop.hidden = !busy;
  stop.disabled = false;
  stop.textContent = "Stop";
  if (busy) stop.focus();
}

// After an answer ends, focus returns to the message box unless the person has moved elsewhere.
export function focusPrompt() {
  const active = document.activeElement;
  if (!active || active === document.body || active === $("stop") || active === $("send")) $("prompt").focus();
}
