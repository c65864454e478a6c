// The one way the UI talks to the server: the same JSON API curl uses, with the session cookie
// and the CSRF header on every state-changing request.
const base = "/api/v1";
let csrfToken = "";

export function setCsrf(token) { csrfToken = token || ""; }

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && body.error ? body.error : {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "http_" + status;
    this.field = error.field;
    this.problems = body && body.problems ? body.problems : [];
  }
}

function headers(method, hasBody) {
  const h = { "Accept": "application/json" };
  if (hasBody) h["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) h["X-CSRF-Token"] = csrfToken;
  return h;
}

export async function api(method, path, body) {
  const response = await fetch(base + path, {
    method, credentials: "same-origin", headers: headers(method, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// POSTs and reads server-sent events as they arrive; calls onEvent for each parsed event.
export async function stream(path, body, onEvent) {
  const response = await fetch(base + path, {
    method: "POST", credentials: "same-origin", headers: headers("POST", true), body: JSON.stringify(body),
  });
  if (!response.ok || !response.body) {
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
      if (!data) continue;
      try { onEvent(JSON.parse(data)); } catch { /* not JSON: ignore */ }
    }
  }
}
