import FastCGI
import Service
import Support

/// Sign-in with the identity provider (`/auth/providers`, `/auth/oidc/login`, `/auth/oidc/callback`).
/// The browser arrives by navigation, so every answer but the first is a redirect: to the
/// provider, or back to `/` with a session, or to `/?login_error=CODE` with none. The code is one
/// of a fixed list, and every `Location` is either the provider's authorization endpoint (from its
/// checked discovery document) or a path of this site: nothing in a request picks where it goes.
enum OIDCHandlers {
    /// The codes a `login_error` may carry; anything else is shown as `internal_error`.
    static let loginErrors: Set<ErrorCode> = [
        .oidcNotConfigured, .providerUnavailable, .providerDenied, .stateInvalid, .tokenInvalid, .emailMissing, .emailNotVerified,
        .notAllowed, .accountDisabled, .accountConflict, .lastAdmin, .rateLimited
    ]

    static func providers(_ c: Context) throws -> Response {
        let oidc: JSON =
            c.config.oidc.map {
                ["enabled": true, "login_url": .string(Router.prefix + "/auth/oidc/login"), "name": .string($0.displayName)]
            } ?? ["enabled": false, "login_url": .null]
        return .json(["password": .bool(c.config.passwordLogin), "oidc": oidc])
    }

    static func login(_ c: Context) throws -> Response {
        do {
            let start = try OIDCSignIn.start(c)
            return redirect(start.location, cookies: [c.bindingCookie(start.browserToken, maxAge: Int(OIDCSignIn.stateTTL))])
        } catch {
            return failure(c, error)
        }
    }

    static func callback(_ c: Context) throws -> Response {
        let clear = c.bindingCookie("", maxAge: 0)
        do {
            let callback = try callbackInput(c)
            let session = try OIDCSignIn.finish(c, callback: callback, browserToken: c.request.cookie(c.bindingCookieName))
            return redirect("/", cookies: [clear, c.sessionCookie(session.sessionToken, maxAge: Int(session.ttlSeconds))])
        } catch {
            return failure(c, error, cookies: [clear])
        }
    }

    /// RP-initiated logout: the browser comes here after `POST /auth/logout` and goes on to the
    /// provider's end-session endpoint (or to `/` when there is none). It ends no session itself.
    static func logout(_ c: Context) throws -> Response {
        redirect(OIDCSignIn.logoutLocation(c) ?? "/", cookies: [])
    }

    /// The callback's query: `code`, `state`, `iss`, or `error` (with `error_description` and
    /// `error_uri`, which are never read); `session_state` (Keycloak) is ignored. A repeated name
    /// is refused: a second `state=` must not choose which one counts.
    static func callbackInput(_ c: Context) throws(ServiceError) -> OIDCSignIn.Callback {
        var seen: [String: String] = [:]
        let bad = ServiceError(.stateInvalid, "The sign-in answer is malformed.")
        guard c.request.query.utf8.count <= 16_384 else { throw bad }
        for pair in c.request.query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(String(parts[0]))
            guard seen[name] == nil else { throw bad }
            seen[name] = parts.count > 1 ? percentDecode(String(parts[1])) : ""
        }
        return OIDCSignIn.Callback(code: seen["code"], state: seen["state"], error: seen["error"], issuer: seen["iss"])
    }

    static func redirect(_ location: String, cookies: [(String, String)]) -> Response {
        Response(
            status: 302, headers: [("Location", location), ("Referrer-Policy", "no-referrer")] + cookies, body: [], stream: nil)
    }

    static func failure(_ c: Context, _ error: any Error, cookies: [(String, String)] = []) -> Response {
        let e = ServiceError.from(error)
        if e.status >= 500, !loginErrors.contains(e.code) {
            Log.event(.error, "handler_failed", ["request_id": .string(c.requestID), "error": .string(String(describing: e))])
        }
        let code = loginErrors.contains(e.code) ? e.code : .internalError
        return redirect("/?login_error=" + code.rawValue, cookies: cookies)
    }
}
