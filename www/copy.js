// Copy buttons (messages and code blocks). A copy that the browser refuses reaches report()
// through dom.on; a successful one says so on the button for two seconds.
import { announce, button, on } from "./dom.js";

export function copyButton(text, getText, name) {
  const b = button(text, { class: "copy", "aria-label": name });
  on(b, "click", async () => {
    await navigator.clipboard.writeText(getText());
    b.textContent = "Copied";
    b.classList.add("copied");
    announce("Copied to the clipboard.");
    setTimeout(() => { b.textContent = text; b.classList.remove("copied"); }, 2000);
  });
  return b;
}
