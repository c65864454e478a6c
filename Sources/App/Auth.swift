import Crypto
import Foundation
import Storage
import Support

/// Tokens and session cookies: random 256-bit values; only their SHA-256 is stored.
enum Credentials {
    static let tokenPrefix = "ct_"
    static let sessionCookie = "ct_session"
    /// The name whenever the cookie is Secure: browsers accept a `__Host-` cookie only from this
    /// host itself, over https, for Path=/ and without Domain, so no sibling subdomain can plant one.
    static let secureSessionCookie = "__Host-ct_session"

    static func newToken() -> String { tokenPrefix + Encoding.base64url(Random.bytes(32)) }
    static func newSessionToken() -> String { Encoding.base64url(Random.bytes(32)) }
    static func hash(_ value: String) -> String { Encoding.hex(Digest.sha256(value)) }

    /// The CSRF token is derived from the session token, so `/auth/me` can hand it back to the
    /// page after a reload. A cross-site page can neither read the cookie nor that response.
    static func csrfToken(forSession token: String) -> String {
        Encoding.base64url(Digest.sha256("cryotensor csrf v1:" + token))
    }
}

extension Context {
    /// Reads a bearer token or the session cookie. Invalid credentials are 401 even on
    /// routes open to anyone, so a client learns its token is bad.
    func authenticate() throws -> Authentication? {
        if let header = request.header("Authorization") {
            guard header.hasPrefix("Bearer "), case let token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces),
                  token.hasPrefix(Credentials.tokenPrefix), token.count < 200 else {
                throw HTTPError(401, "invalid_token", "The bearer token is malformed.")
            }
            let tokens = TokenRepository(db)
            guard let record = try tokens.find(tokenHash: Credentials.hash(token)),
                  let user = try UserRepository(db).find(id: record.userID), !user.disabled else {
                throw HTTPError(401, "invalid_token", "The token is unknown or revoked.")
            }
            // Record use at most once a minute: a write per request would serialize every API call.
            if Clock.now() - (record.lastUsedAt ?? 0) > 60 { try? tokens.touch(id: record.id) }
            return Authentication(user: user, method: .token, sessionToken: nil)
        }
        if let cookie = request.cookie(sessionCookieName), !cookie.isEmpty {
            guard cookie.count < 200, let session = try SessionRepository(db).find(tokenHash: Credentials.hash(cookie)),
                  let user = try UserRepository(db).find(id: session.userID), !user.disabled else {
                return nil  // an expired cookie is the same as none; login replaces it
            }
            return Authentication(user: user, method: .session, sessionToken: cookie)
        }
        return nil
    }

    /// State-changing requests authenticated by cookie must carry the session's CSRF token.
    func checkCSRF() throws(HTTPError) {
        guard let auth, auth.method == .session, let token = auth.sessionToken else { return }
        guard !["GET", "HEAD", "OPTIONS"].contains(request.method) else { return }
        let expected = Array(Credentials.csrfToken(forSession: token).utf8)
        guard let sent = request.header("X-CSRF-Token"), Encoding.constantTimeEqual(Array(sent.utf8), expected) else {
            throw HTTPError(403, "csrf_failed", "Missing or wrong X-CSRF-Token header.")
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
}

/// Login rate limits: fixed 15-minute windows of attempts per account and per client, counted in
/// SQLite (Redis is a cache others may write: a limit kept there could be reset by them). An
/// attempt is counted before its password is checked, in one atomic statement, so concurrent
/// guesses cannot slip past the limit; a success gives its count back. Clients are counted per
/// IPv4 address and per IPv6 /64 (one host usually holds a whole /64). Keys carry hashes only.
struct LoginLimiter {
    static let windowSeconds: Int64 = 900
    let context: Context

    /// The client as counted: the IPv4 address, or the /64 of an IPv6 address.
    static func clientKey(_ address: String) -> String {
        guard address.contains(":"), let ip = IPAddress(address.split(separator: "%").first.map(String.init) ?? address),
              ip.bytes.count == 16 else { return address }
        // ::ffff:a.b.c.d is an IPv4 client and counts as that address.
        if ip.bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], let v4 = IPAddress(bytes: Array(ip.bytes.suffix(4))) {
            return v4.description
        }
        return Encoding.hex(Array(ip.bytes.prefix(8))) + "::/64"
    }

    func keys(email: String) -> [(key: String, limit: Int)] {
        let account = Encoding.hex(Array(Digest.sha256("acct:" + email.lowercased()).prefix(12)))
        let client = Encoding.hex(Array(Digest.sha256("client:" + Self.clientKey(context.clientAddress)).prefix(12)))
        return [("ct:rl:login:acct:" + account, context.config.loginMaxFailures),
                ("ct:rl:login:client:" + client, context.config.loginMaxFailuresPerClient)]
    }

    /// Counts this attempt against every limit; returns seconds to wait when one is over.
    /// The client is counted first and, once it is over, nothing else is: random emails from
    /// one client cannot add rows without bound. Counters of past windows are deleted.
    func admit(email: String) throws -> Int? {
        let repo = RateLimitRepository(context.db)
        let wait = Int(Self.windowSeconds - Clock.now() % Self.windowSeconds) + 1
        try repo.forgetOldWindows(windowSeconds: Self.windowSeconds)
        for (key, limit) in keys(email: email).reversed() where try repo.increment(key: key, windowSeconds: Self.windowSeconds) > limit {
            return wait
        }
        return nil
    }

    /// A correct password: the account's count starts again and the client's attempt is given back.
    func recordSuccess(email: String) {
        let repo = RateLimitRepository(context.db)
        let all = keys(email: email)
        if let account = all.first?.key { try? repo.reset(key: account) }
        if all.count > 1 { try? repo.decrement(key: all[1].key) }
    }
}
