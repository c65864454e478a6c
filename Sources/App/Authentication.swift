import Crypto
import Foundation
import Service
import Storage
import Support

extension Context {
    /// Reads a bearer token or the session cookie. Invalid credentials are 401 even on
    /// routes open to anyone, so a client learns its token is bad.
    func authenticate() throws -> Authentication? {
        if let header = request.header("Authorization") {
            guard header.hasPrefix("Bearer "), case let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces),
                token.hasPrefix(Credentials.tokenPrefix), token.count < 200
            else {
                throw ServiceError(.invalidToken, "The bearer token is malformed.")
            }
            let tokens = TokenRepository(db)
            guard let owner = try tokens.owner(tokenHash: Credentials.hash(token)), !owner.user.disabled else {
                throw ServiceError(.invalidToken, "The token is unknown or revoked.")
            }
            // Record use at most once a minute: a write per request would serialize every API call.
            if Clock.now() - (owner.lastUsedAt ?? 0) > 60 { try? tokens.touch(id: owner.tokenID) }
            return Authentication(user: owner.user, method: .token, sessionToken: nil)
        }
        if let cookie = request.cookie(sessionCookieName), !cookie.isEmpty {
            guard cookie.count < 200, let user = try SessionRepository(db).user(tokenHash: Credentials.hash(cookie)), !user.disabled
            else {
                return nil  // an expired cookie is the same as none; login replaces it
            }
            return Authentication(user: user, method: .session, sessionToken: cookie)
        }
        return nil
    }

    /// State-changing requests authenticated by cookie must carry the session's CSRF token.
    func checkCSRF() throws(ServiceError) {
        guard let auth, auth.method == .session, let token = auth.sessionToken else { return }
        guard !["GET", "HEAD", "OPTIONS"].contains(request.method) else { return }
        let expected = Array(Credentials.csrfToken(forSession: token).utf8)
        guard let sent = request.header("X-CSRF-Token"), Encoding.constantTimeEqual(Array(sent.utf8), expected) else {
            throw ServiceError(.csrfFailed, "Missing or wrong X-CSRF-Token header.")
        }
    }

    /// `Secure` except on plain-http localhost, where browsers would drop a Secure cookie.
    var cookieIsSecure: Bool {
        if request.params["HTTPS"]?.lowercased() == "on" { return true }
        let scheme = request.params["REQUEST_SCHEME"] ?? "http"
        if scheme == "https" { return true }
        let host = (request.header("Host") ?? "").lowercased()
        let name = host.hasPrefix("[") ? String(host.prefix(while: { $0 != "]" })) + "]" : String(host.split(separator: ":").first ?? "")
        return !["localhost", "127.0.0.1", "[::1]"].contains(name)
    }

    var sessionCookieName: String { cookieIsSecure ? Credentials.secureSessionCookie : Credentials.sessionCookie }

    func sessionCookie(_ value: String, maxAge: Int) -> (String, String) {
        var cookie = "\(sessionCookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
        if cookieIsSecure { cookie += "; Secure" }
        return ("Set-Cookie", cookie)
    }

    /// The cookie that binds a sign-in with the identity provider to this browser: HttpOnly,
    /// ten minutes, `SameSite=Lax` (the provider's redirect back is a cross-site navigation, which
    /// a Strict cookie would not ride along), `__Host-` whenever Secure.
    var bindingCookieName: String { cookieIsSecure ? OIDCSignIn.secureBindingCookie : OIDCSignIn.bindingCookie }

    func bindingCookie(_ value: String, maxAge: Int) -> (String, String) {
        var cookie = "\(bindingCookieName)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax"
        if cookieIsSecure { cookie += "; Secure" }
        return ("Set-Cookie", cookie)
    }
}
