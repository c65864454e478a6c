import Crypto
import Support

/// Tokens and session cookies: random 256-bit values; only their SHA-256 is stored.
package enum Credentials {
    package static let tokenPrefix = "ct_"
    package static let sessionCookie = "ct_session"
    /// The name whenever the cookie is Secure: browsers accept a `__Host-` cookie only from this
    /// host itself, over https, for Path=/ and without Domain, so no sibling subdomain can plant one.
    package static let secureSessionCookie = "__Host-ct_session"

    package static func newToken() -> String { tokenPrefix + Encoding.base64url(Random.bytes(32)) }
    package static func newSessionToken() -> String { Encoding.base64url(Random.bytes(32)) }
    package static func hash(_ value: String) -> String { Encoding.hex(Digest.sha256(value)) }

    /// The CSRF token is derived from the session token, so `/auth/me` can hand it back to the
    /// page after a reload. A cross-site page can neither read the cookie nor that response.
    package static func csrfToken(forSession token: String) -> String {
        Encoding.base64url(Digest.sha256("cryotensor csrf v1:" + token))
    }
}
