import Foundation
import Support

/// The OpenID Connect relying party's settings, checked at start-up like every other setting.
/// The issuer and the redirect URI are the operator's: nothing of a request (its Host header) is
/// ever used to build them.
public struct OIDCSettings: Sendable {
    public let issuer: String
    public let clientID: String
    public let clientSecret: Secret
    public let redirectURI: String
    public let scopes: String
    public let groupsClaim: String
    public let adminGroups: [String]
    public let allowedGroups: [String]
    public let allowInsecureHTTP: Bool
    /// The login page's "Sign in with …".
    public let displayName: String

    /// `{issuer}/.well-known/openid-configuration` (OpenID Connect Discovery 1.0, section 4).
    public var discoveryURL: String {
        (issuer.hasSuffix("/") ? String(issuer.dropLast()) : issuer) + "/.well-known/openid-configuration"
    }

    static func load(
        issuer: String, clientID: String, clientSecret: Secret?, redirectURI: String, scopes: String, groupsClaim: String,
        adminGroups: [String], allowedGroups: [String], allowInsecureHTTP: Bool, displayName: String
    ) throws(ConfigError) -> OIDCSettings? {
        guard !issuer.isEmpty else { return nil }
        if let why = Self.urlProblem(issuer, allowInsecureHTTP: allowInsecureHTTP) {
            throw ConfigError(variable: "OIDC_ISSUER", reason: why)
        }
        // A missing companion setting is the issuer's problem (it is what asks for it); a bad one is its own.
        guard !clientID.isEmpty else { throw ConfigError(variable: "OIDC_ISSUER", reason: "needs OIDC_CLIENT_ID") }
        guard clientID.utf8.count <= 200,
            !clientID.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F })
        else { throw ConfigError(variable: "OIDC_CLIENT_ID", reason: "must be printable, without spaces, at most 200 bytes") }
        guard let clientSecret else { throw ConfigError(variable: "OIDC_ISSUER", reason: "needs OIDC_CLIENT_SECRET") }
        guard !redirectURI.isEmpty else {
            throw ConfigError(variable: "OIDC_ISSUER", reason: "needs OIDC_REDIRECT_URI (https://HOST/api/v1/auth/oidc/callback)")
        }
        if let why = Self.urlProblem(redirectURI, allowInsecureHTTP: allowInsecureHTTP, anyHTTPLoopback: true) {
            throw ConfigError(variable: "OIDC_REDIRECT_URI", reason: why)
        }
        guard redirectURI.hasSuffix("/api/v1/auth/oidc/callback") else {
            throw ConfigError(variable: "OIDC_REDIRECT_URI", reason: "must end with /api/v1/auth/oidc/callback")
        }
        let scopeList = scopes.split(separator: " ").map(String.init)
        guard scopeList.contains("openid"),
            scopeList.allSatisfy({ $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_-.:/".contains($0)) } })
        else { throw ConfigError(variable: "OIDC_SCOPES", reason: "must include openid; letters, digits and _-.:/ only") }
        guard !groupsClaim.isEmpty, groupsClaim.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_-.:/".contains($0)) }) else {
            throw ConfigError(variable: "OIDC_GROUPS_CLAIM", reason: "must be a claim name (letters, digits and _-.:/)")
        }
        for (name, groups) in [("OIDC_ADMIN_GROUPS", adminGroups), ("OIDC_ALLOWED_GROUPS", allowedGroups)] {
            for group in groups where group.count > 200 || group.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
                throw ConfigError(variable: name, reason: "a group name is longer than 200 characters or holds a control character")
            }
        }
        return OIDCSettings(
            issuer: issuer, clientID: clientID, clientSecret: clientSecret, redirectURI: redirectURI,
            scopes: scopeList.joined(separator: " "),
            groupsClaim: groupsClaim, adminGroups: adminGroups, allowedGroups: allowedGroups, allowInsecureHTTP: allowInsecureHTTP,
            displayName: displayName)
    }

    /// Why an issuer or endpoint URL is not acceptable, or nil: `https://` with a host, no
    /// credentials, query or fragment; `http://` only with `OIDC_ALLOW_INSECURE_HTTP_ISSUER=true`
    /// and a loopback host (a test provider on this machine). The redirect URI may also be plain
    /// http on a loopback host (scripts/run), where the browser and the service are one machine.
    public static func urlProblem(
        _ text: String, allowInsecureHTTP: Bool, anyHTTPLoopback: Bool = false, allowQuery: Bool = false
    ) -> String? {
        guard text.utf8.count <= 200, !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }),
            let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased(), !host.isEmpty
        else { return "is not a URL" }
        guard url.user == nil, url.password == nil, allowQuery || url.query == nil, url.fragment == nil else {
            return "must not hold credentials, a query or a fragment"
        }
        switch scheme {
        case "https": return nil
        case "http":
            let loopback = ["127.0.0.1", "localhost", "[::1]", "::1"].contains(host)
            if loopback && (allowInsecureHTTP || anyHTTPLoopback) { return nil }
            return "must be https:// (http:// only on a loopback host with OIDC_ALLOW_INSECURE_HTTP_ISSUER=true)"
        default: return "must be https://"
        }
    }
}
