// CryoTensor's web UI, started here: sign in and out, and which view shows. Plain ES modules, no
// build step; the only third-party code is Debian's markdown-it, highlight.js and DOMPurify
// (markdown.js). Every listener goes through dom.on and every failure through errors.report.
import { api, setCsrf, ApiError } from "./api.js";
import { $, on } from "./dom.js";
import { report, notify, clearAlert, initAlert } from "./errors.js";
import { state } from "./state.js";
import { initTheme } from "./theme.js";
import { loadChatView, initChat } from "./chat.js";
import { openTab, initAdmin } from "./admin.js";
import { loadUsage, initUsage } from "./usage.js";
import { loadProviders, showLoginError } from "./signin.js";

function show(view) {
  for (const name of ["login", "chat", "usage", "admin"]) $(`${name}-view`).hidden = name !== view;
  $("nav").hidden = view === "login";
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

async function route() {
  if (!state.user) { show("login"); return; }
  const view = location.hash === "#admin" && state.user.role === "admin" ? "admin" : location.hash === "#usage" ? "usage" : "chat";
  show(view);
  if (view === "chat") await loadChatView(); else if (view === "usage") await loadUsage(); else await openTab("status");
}

async function signedIn(user) {
  state.user = user;
  $("who").textContent = `${user.email} (${user.role})`;
  $("nav-admin").hidden = user.role !== "admin";
  await route();
}

function signedOut() {
  setCsrf("");
  state.user = null;
  state.identityProvider = false;
  state.current = null;
  state.chats = [];
  $("messages").replaceChildren();
  notify("");
  clearAlert();
  show("login");
  $("email").focus();
}

function initAuth() {
  on($("login-form"), "submit", async (event) => {
    event.preventDefault();
    $("login-error").textContent = "";
    let result;
    try {
      result = await api("POST", "/auth/login", { email: $("email").value, password: $("password").value });
    } catch (e) {
      report(e, { into: $("login-error") });
      return;
    }
    setCsrf(result.csrf_token);
    $("password").value = "";
    await signedIn(result.user);
  });
  on($("logout"), "click", async () => {
    try {
      await api("POST", "/auth/logout");
    } catch (e) {
      // A session that already ended is signed out all the same; anything else is shown.
      if (!(e instanceof ApiError && e.status === 401)) report(e);
    }
    // An account of the identity provider also ends the provider's session (RP-initiated logout):
    // the server sends the browser on to the provider's end-session page, or back to /.
    if (state.identityProvider) { location.assign("/api/v1/auth/oidc/logout"); return; }
    signedOut();
  });
  on(window, "hashchange", route);
}

// An existing session (after a reload) goes straight to its view.
async function resume() {
  let me;
  try {
    me = await api("GET", "/auth/me");
  } catch (e) {
    // 401 is the ordinary answer before signing in; any other failure is shown too.
    if (!(e instanceof ApiError && e.status === 401)) report(e, { retry: resume });
    show("login");
    return;
  }
  setCsrf(me.csrf_token);
  state.identityProvider = me.identity_provider === true;
  await signedIn(me.user);
}

initAlert();
initTheme();
initAuth();
showLoginError();
loadProviders();
initChat();
initAdmin();
initUsage();
resume().catch((e) => report(e, { retry: resume }));
