import Service
import Support
import TestSupport
import Testing

/// The parts of sign-in with an identity provider that need no provider: the URL rule for the
/// issuer and its endpoints, the discovery document's checks (fuzzed: it comes off the network),
/// the groups claim and form encoding.
@Suite struct OIDCUnitTests {
    static func settings(issuer: String = "https://idp.example.com/realms/x", insecure: Bool = false) throws -> OIDCSettings {
        var env = [
            "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "cryotensor", "OIDC_CLIENT_SECRET": "a-client-secret-value",
            "OIDC_REDIRECT_URI": "https://chat.example.com/api/v1/auth/oidc/callback"
        ]
        if insecure { env["OIDC_ALLOW_INSECURE_HTTP_ISSUER"] = "true" }
        return try #require(try Config.load(environment: env).oidc)
    }

    static let document: [String: JSON] = [
        "issuer": "https://idp.example.com/realms/x",
        "authorization_endpoint": "https://idp.example.com/realms/x/protocol/openid-connect/auth",
        "token_endpoint": "https://idp.example.com/realms/x/protocol/openid-connect/token",
        "jwks_uri": "https://idp.example.com/realms/x/protocol/openid-connect/certs",
        "end_session_endpoint": "https://idp.example.com/realms/x/protocol/openid-connect/logout",
        "code_challenge_methods_supported": ["plain", "S256"]
    ]

    @Test(arguments: [
        ("https://idp.example.com/realms/x", false, true), ("http://idp.example.com", false, false),
        ("http://idp.example.com", true, false), ("http://127.0.0.1:8080/openid", false, false),
        ("http://127.0.0.1:8080/openid", true, true), ("http://[::1]:9/x", true, true), ("http://localhost/x", true, true),
        ("http://127.0.0.2/x", true, false), ("https://u:p@idp.example.com", false, false), ("https://idp.example.com/?a=1", false, false),
        ("https://idp.example.com/#f", false, false), ("ftp://idp.example.com", false, false), ("https://", false, false),
        ("javascript:alert(1)", true, false), ("https://idp.example.com/\r\nX: y", false, false)
    ])
    func issuerURLRule(_ url: String, _ insecure: Bool, _ ok: Bool) {
        #expect((OIDCSettings.urlProblem(url, allowInsecureHTTP: insecure) == nil) == ok, "\(url)")
    }

    @Test func aGoodDiscoveryDocumentParses() throws {
        let settings = try Self.settings()
        let metadata = try OIDCMetadata.parse(Array(JSON.object(Self.document).serialized().utf8), settings: settings)
        #expect(metadata.tokenEndpoint.hasSuffix("/token") && metadata.endSessionEndpoint != nil)
        #expect(settings.discoveryURL == "https://idp.example.com/realms/x/.well-known/openid-configuration")
    }

    @Test func discoveryDocumentsThatSteerElsewhereAreRefused() throws {
        let settings = try Self.settings()
        func refused(_ changes: [String: JSON]) -> Bool {
            var doc = Self.document
            for (k, v) in changes { doc[k] = v == .null ? nil : v }
            return (try? OIDCMetadata.parse(Array(JSON.object(doc).serialized().utf8), settings: settings)) == nil
        }
        #expect(refused(["issuer": "https://evil.example.com/realms/x"]))  // mix-up
        #expect(refused(["token_endpoint": "http://idp.example.com/token"]))  // the secret over plain http
        #expect(refused(["token_endpoint": "http://127.0.0.1/token"]))  // loopback only with the insecure flag
        #expect(refused(["jwks_uri": "file:///etc/passwd"]))
        #expect(refused(["jwks_uri": .null]))
        #expect(refused(["authorization_endpoint": 1]))
        #expect(refused(["code_challenge_methods_supported": ["plain"]]))  // no S256: no PKCE worth the name
        #expect(!refused(["end_session_endpoint": .null]))
        #expect((try? OIDCMetadata.parse(Array(repeating: 0x20, count: OIDCMetadata.maxBytes + 1), settings: settings)) == nil)
    }

    /// Seeded fuzzing of the discovery document: nothing crashes, and whatever is accepted names
    /// the configured issuer and only endpoints that pass the URL rule.
    @Test func fuzzedDiscoveryDocuments() throws {
        let settings = try Self.settings()
        var rng = SeededGenerator(state: 0xD15C)
        let values: [JSON] = [
            .null, true, 0, -1, .number(1e300), "", "https://idp.example.com/realms/x", "http://idp.example.com/x",
            "https://evil.example/x",
            "https://idp.example.com/realms/x/", "\u{0}", "https://a/\u{7F}", [], ["S256"], [:], .string(String(repeating: "h", count: 300))
        ]
        let keys = Array(Self.document.keys) + ["extra", "userinfo_endpoint"]
        var accepted = 0
        for round in 0..<4000 {
            var doc = Self.document
            for _ in 0...rng.int(0...3) { doc[rng.pick(keys)] = rng.pick(values) }
            var bytes = Array(JSON.object(doc).serialized().utf8)
            if round % 5 == 0, !bytes.isEmpty {
                for _ in 0..<rng.int(1...4) { bytes[rng.int(0...(bytes.count - 1))] = rng.bytes(1)[0] }
            }
            guard let metadata = try? OIDCMetadata.parse(bytes, settings: settings) else { continue }
            accepted += 1
            // The configured issuer, give or take one trailing slash.
            #expect([settings.issuer, settings.issuer + "/"].contains(metadata.issuer) || metadata.issuer + "/" == settings.issuer)
            let urls = [metadata.authorizationEndpoint, metadata.tokenEndpoint, metadata.jwksURI, metadata.endSessionEndpoint]
            for url in urls.compactMap({ $0 }) {
                #expect(url.hasPrefix("https://"), "\(url)")
            }
        }
        #expect(accepted > 100)
    }

    @Test func theGroupsClaimIsAListOfStringsOrOne() {
        #expect(OIDCAccounts.groups(["groups": ["a", 1, "b"]], claim: "groups") == ["a", "b"])
        #expect(OIDCAccounts.groups(["groups": "a"], claim: "groups") == ["a"])
        #expect(OIDCAccounts.groups(["groups": ["x": "y"]], claim: "groups").isEmpty)
        #expect(OIDCAccounts.groups(["roles": ["r"]], claim: "groups").isEmpty)
    }

    @Test func formEncodingLeavesOnlyUnreservedCharacters() {
        #expect(FormEncoding.escape("a b&c=d+é~._-") == "a%20b%26c%3Dd%2B%C3%A9~._-")
        #expect(FormEncoding.encode([("redirect_uri", "https://x/cb?a=1")]) == "redirect_uri=https%3A%2F%2Fx%2Fcb%3Fa%3D1")
    }

    @Test func missingCompanionsAreTheIssuersProblem() {
        for missing in ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URI"] {
            var env = [
                "OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s",
                "OIDC_REDIRECT_URI": "https://chat.example.com/api/v1/auth/oidc/callback"
            ]
            env[missing] = nil
            #expect(throws: ConfigError.self) { try Config.load(environment: env) }
            #expect((try? Config.load(environment: env)) == nil)
            let problem = Config.problems(environment: env).first
            #expect(problem?.variable == "OIDC_ISSUER" && problem?.reason.contains(missing) == true)
        }
        // A redirect URI on another path, or over http to a real host, is refused.
        for bad in ["https://chat.example.com/callback", "http://chat.example.com/api/v1/auth/oidc/callback"] {
            let env = [
                "OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s", "OIDC_REDIRECT_URI": bad
            ]
            #expect(Config.problems(environment: env).first?.variable == "OIDC_REDIRECT_URI")
        }
    }
}
