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

// The connection broke while an answer streamed (network, proxy or service restart).
export class ConnectionLost extends Error {
  constructor() { super("The connection was lost before the answer finished. What arrived is saved in the chat."); }
}

// POSTs and reads server-sent events as they arrive; calls onEvent for each parsed event. A
// refusal before the stream starts throws ApiError; a broken stream throws ConnectionLost.
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
    let chunk;
    try { chunk = await reader.read(); } catch { throw new ConnectionLost(); }
    if (chunk.done) break;
    buffer += decoder.decode(chunk.value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event) onEvent(event);
    }
  }
}

// One server-sent event block to its JSON data, or null for comments and keep-alives.
function parseEvent(block) {
  const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
  if (!data) return null;
  try { return JSON.parse(data); } catch { return null; }  // the service only sends JSON; anything else is not an event
}
