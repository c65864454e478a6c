// Sign-in options on the login page: "Sign in with …" when an identity provider is configured
// (GET /auth/providers), the password form only while password sign-in is on, and a clear message
// for the `login_error` the provider's round trip came back with. The code is only ever looked up
// in the table below: nothing of the URL is put on the page as it is.
import { api } from "./api.js";
import { $ } from "./dom.js";

export const loginErrors = {
  not_allowed: "Your account is not in a group that may use this service. Ask your administrator for access.",
  email_not_verified: "An account with your email address exists here, and your identity provider has not verified that address. "
    + "Verify it at your provider, or sign in with your password.",
  account_disabled: "Your account is disabled. Ask your administrator.",
  account_conflict: "Your email address belongs to an account already linked to another identity at your provider. Ask your administrator.",
  email_missing: "Your identity provider did not send an email address, which a new account needs.",
  last_admin: "Signing in would remove the last administrator's role here (your provider's groups no longer make you one). "
    + "Ask another administrator first.",
  state_invalid: "The sign-in expired or was already used, or started in another browser. Please try again.",
  token_invalid: "The identity provider's answer could not be verified. Please try again; if it persists, tell your administrator.",
  provider_denied: "The identity provider did not sign you in (cancelled or refused).",
  provider_unavailable: "The identity provider cannot be reached right now. Please try again later.",
  oidc_not_configured: "Sign-in with an identity provider is not set up on this service.",
  rate_limited: "Too many sign-in attempts from here. Please wait a few minutes.",
  internal_error: "Sign-in failed because of an error on our side. Please try again.",
};

// The message for the page's ?login_error=, or "" when there is none; the parameter is removed
// from the address bar so a reload does not show it again.
export function takeLoginError() {
  const params = new URLSearchParams(location.search);
  if (!params.has("login_error")) return "";
  const code = params.get("login_error");
  history.replaceState(null, "", location.pathname + location.hash);
  return Object.hasOwn(loginErrors, code) ? loginErrors[code] : "Sign-in failed. Please try again.";
}

export async function loadProviders() {
  let providers;
  try {
    providers = await api("GET", "/auth/providers");
  } catch {
    return;  // an older server: the password form alone
  }
  const oidc = providers.oidc || {};
  $("sso").hidden = !oidc.enabled;
  if (oidc.enabled) {
    $("sso-link").textContent = `Sign in with ${oidc.name || "single sign-on"}`;
    // Only our own path: a login_url that is not one is not followed.
    if (typeof oidc.login_url === "string" && oidc.login_url.startsWith("/api/v1/")) $("sso-link").href = oidc.login_url;
  }
  $("login-form").hidden = providers.password === false;
  $("sso-or").hidden = !(oidc.enabled && providers.password !== false);
}

export function showLoginError() {
  const message = takeLoginError();
  $("sso-error").textContent = message;
  $("sso-error").hidden = !message;
}
