import Crypto
import Foundation
import Storage
import Support

/// Tokens and session cookies: random 256-bit values; only their SHA-256 is stored.
enum Credentials {
    static let tokenPrefix = "ct_"
    static let sessionCookie = "ct_session"

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
        if let cookie = request.cookie(Credentials.sessionCookie), !cookie.isEmpty {
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

    func sessionCookie(_ value: String, maxAge: Int) -> (String, String) {
        var cookie = "\(Credentials.sessionCookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Strict"
        if cookieIsSecure { cookie += "; Secure" }
        return ("Set-Cookie", cookie)
    }
}

/// Login rate limits: fixed 15-minute windows of failed attempts per account and per client,
/// counted in Redis and, while Redis is down, in SQLite. Keys carry hashes, never emails.
struct LoginLimiter {
    static let windowSeconds: Int64 = 900
    let context: Context

    func keys(email: String) -> [(key: String, limit: Int)] {
        let account = Encoding.hex(Array(Digest.sha256("acct:" + email.lowercased()).prefix(12)))
        let client = Encoding.hex(Array(Digest.sha256("client:" + context.clientAddress).prefix(12)))
        return [("ct:rl:login:acct:" + account, context.config.loginMaxFailures),
                ("ct:rl:login:client:" + client, context.config.loginMaxFailuresPerClient)]
    }

    /// Seconds to wait when a limit is reached, else nil.
    func retryAfter(email: String) throws -> Int? {
        for (key, limit) in keys(email: email) where try failures(key) >= limit {
            return Int(Self.windowSeconds - Clock.now() % Self.windowSeconds) + 1
        }
        return nil
    }

    func failures(_ key: String) throws -> Int {
        if let reply = context.services.redisCommand(["GET", key]) {
            return reply.string.flatMap { Int($0) } ?? 0
        }
        return try RateLimitRepository(context.db).count(key: key, windowSeconds: Self.windowSeconds)
    }

    func recordFailure(email: String) throws {
        for (key, _) in keys(email: email) {
            let ttl = String(Self.windowSeconds - Clock.now() % Self.windowSeconds)
            if context.services.redisCommand(["INCR", key]) != nil {
                _ = context.services.redisCommand(["EXPIRE", key, ttl])
            } else {
                try RateLimitRepository(context.db).increment(key: key, windowSeconds: Self.windowSeconds)
            }
        }
    }

    func recordSuccess(email: String) {
        guard let account = keys(email: email).first?.key else { return }
        _ = context.services.redisCommand(["DEL", account])
        try? RateLimitRepository(context.db).reset(key: account)
    }
}
