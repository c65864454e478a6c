// The one place that shows failures to the person. report() puts a message either inline (into
// a given element, next to what failed) or in the page's alert bar, with a Retry button when the
// caller can repeat the action. notify() uses the same bar for news that is not a failure.
import { ApiError } from "./api.js";
import { on } from "./dom.js";

let retryAction = null;

export function describe(e) {
  if (e instanceof ApiError) {
    const problems = e.problems && e.problems.length ? ` (${e.problems.map((p) => `${p.path}: ${p.code}`).join(", ")})` : "";
    return `${e.message} [${e.code}]${problems}`;
  }
  if (e instanceof TypeError && /fetch|network/i.test(e.message)) return "The server could not be reached. Check the connection and retry.";
  return String((e && e.message) || e);
}

// options.into: an element to show the message in (its content is replaced); options.retry: a
// function that repeats the failed action; options.prefix: words before the description.
export function report(e, options = {}) {
  const text = (options.prefix || "") + describe(e);
  if (!(e instanceof ApiError)) console.warn("CryoTensor:", e);  // a bug or a network failure: keep the details for developers
  if (options.into) {
    showInline(options.into, text, options.retry);
    return;
  }
  document.getElementById("alert-text").textContent = text;
  retryAction = options.retry || null;
  document.getElementById("alert-retry").hidden = !retryAction;
  document.getElementById("alert").hidden = false;
}

function showInline(box, text, retry) {
  box.replaceChildren();
  const message = document.createElement("span");  // a span: the box may itself be a <p>
  message.className = "error";
  message.textContent = text;
  box.append(message);
  box.hidden = false;
  box.scrollIntoView({ block: "nearest" });  // a long admin form can leave it below the fold
  if (retry) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "retry";
    b.textContent = "Retry";
    on(b, "click", retry);
    box.append(b);
  }
}

export function notify(text) {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.hidden = !text;
}

export function clearAlert() {
  document.getElementById("alert").hidden = true;
  retryAction = null;
}

export function initAlert() {
  on(document.getElementById("alert-close"), "click", clearAlert);
  on(document.getElementById("alert-retry"), "click", () => {
    const again = retryAction;
    clearAlert();
    if (again) return again();
  });
}
