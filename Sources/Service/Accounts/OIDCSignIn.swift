import Crypto
import Foundation
import Outbound
import Storage
import Support

/// Sign-in with an OpenID Connect provider: the authorization code flow with PKCE (S256), a
/// state and a nonce per sign-in kept in the database (taken once) and bound to the browser by a
/// short-lived HttpOnly cookie, the code exchanged with the client secret and the verifier, and
/// the ID token verified in full (`IDTokenClaims`). Accounts are matched by issuer and subject;
/// see docs/security.md, "Sign-in with an identity provider".
package enum OIDCSignIn {
    package static let bindingCookie = "ct_oidc"
    /// The cookie's name whenever it is Secure (as the session cookie's `__Host-` form).
    package static let secureBindingCookie = "__Host-ct_oidc"
    package static let stateTTL: Int64 = 600
    /// Sign-ins a client may start per 15 minutes (each writes a row).
    package static let startsPerClient = 100
    /// What a stored password hash of an account made by the provider is: never a valid hash.
    package static let noPassword = "!oidc"

    package struct Start {
        package let location: String
        package let browserToken: String
    }

    /// `GET /auth/oidc/login`: a new state, nonce and PKCE verifier, stored; the provider's
    /// authorization URL to send the browser to, and the cookie value that binds it.
    package static func start(_ s: Scope) throws -> Start {
        guard let settings = s.config.oidc else { throw ServiceError(.oidcNotConfigured, "Sign-in with an identity provider is off.") }
        let key = "ct:rl:oidc:client:" + Encoding.hex(Array(Digest.sha256("client:" + LoginLimiter.clientKey(s.clientAddress)).prefix(12)))
        let repo = RateLimitRepository(s.db)
        try repo.forgetOldWindows(windowSeconds: LoginLimiter.windowSeconds)
        if try repo.increment(key: key, windowSeconds: LoginLimiter.windowSeconds) > startsPerClient {
            throw ServiceError.rateLimited(retryAfter: Int(LoginLimiter.windowSeconds - Clock.now() % LoginLimiter.windowSeconds) + 1)
        }
        let directory = s.services.shared.oidc
        s.releaseServices()  // the discovery document may take a network call
        let metadata = try directory.metadata(settings)
        let state = Encoding.base64url(Random.bytes(32))
        let nonce = Encoding.base64url(Random.bytes(32))
        let verifier = Encoding.base64url(Random.bytes(32))  // 43 characters (RFC 7636 section 4.1)
        let browser = Encoding.base64url(Random.bytes(32))
        try OIDCStateRepository(s.db).create(
            stateHash: Credentials.hash(state), browserHash: Credentials.hash(browser), nonce: nonce, codeVerifier: verifier,
            issuer: metadata.issuer, ttlSeconds: stateTTL)
        let query = FormEncoding.encode([
            ("response_type", "code"), ("client_id", settings.clientID), ("redirect_uri", settings.redirectURI),
            ("scope", settings.scopes), ("state", state), ("nonce", nonce),
            ("code_challenge", Encoding.base64url(Digest.sha256(verifier))), ("code_challenge_method", "S256")
        ])
        let separator = metadata.authorizationEndpoint.contains("?") ? "&" : "?"
        return Start(location: metadata.authorizationEndpoint + separator + query, browserToken: browser)
    }

    /// What the provider sent back to `/auth/oidc/callback`.
    package struct Callback {
        package var code: String?
        package var state: String?
        package var error: String?
        package var issuer: String?
        package init(code: String?, state: String?, error: String?, issuer: String?) {
            self.code = code
            self.state = state
            self.error = error
            self.issuer = issuer
        }
    }

    /// A refused sign-in: recorded (`auth.login_failed`, with the reason and never a token),
    /// logged, and thrown as the catalogue error the redirect names.
    static func refuse(
        _ s: Scope, _ code: ErrorCode, _ reason: String, target: AuditTarget = AuditTarget("user"), outcome: AuditOutcome = .denied
    ) -> ServiceError {
        Log.event(
            .info, "oidc_login_failed", ["request_id": .string(s.requestID), "code": .string(code.rawValue), "reason": .string(reason)])
        if auditable(s) {
            s.auditFailure(.loginFailed, target: target, outcome: outcome, details: ["method": "oidc", "reason": .string(reason)])
        }
        return ServiceError(code, "Sign-in with the identity provider failed.")
    }

    /// Failed callbacks recorded per client per 15 minutes: anyone can send callbacks, and a
    /// flood of them must not fill the trail (the rest are counted in the log's request lines).
    package static let auditedFailuresPerClient = 20

    static func auditable(_ s: Scope) -> Bool {
        let key = "ct:rl:oidc:failed:" + Encoding.hex(Array(Digest.sha256("client:" + LoginLimiter.clientKey(s.clientAddress)).prefix(12)))
        let count = (try? RateLimitRepository(s.db).increment(key: key, windowSeconds: LoginLimiter.windowSeconds)) ?? 0
        return count <= auditedFailuresPerClient
    }

    /// `GET /auth/oidc/callback`: the state taken (once) and checked against the browser's
    /// cookie, the code exchanged, the ID token verified, the account found or made, a session.
    package static func finish(_ s: Scope, callback: Callback, browserToken: String?) throws -> Accounts.SignIn {
        guard let settings = s.config.oidc else { throw ServiceError(.oidcNotConfigured, "Sign-in with an identity provider is off.") }
        guard let state = callback.state, !state.isEmpty, state.utf8.count <= 128 else {
            throw refuse(s, .stateInvalid, "no state")
        }
        guard let pending = try OIDCStateRepository(s.db).take(stateHash: Credentials.hash(state)) else {
            throw refuse(s, .stateInvalid, "unknown or used state")
        }
        guard let browserToken, browserToken.utf8.count <= 128,
            Encoding.constantTimeEqual(Array(Credentials.hash(browserToken).utf8), Array(pending.browserHash.utf8))
        else { throw refuse(s, .stateInvalid, "state bound to another browser") }
        guard pending.expiresAt >= Clock.now() else { throw refuse(s, .stateInvalid, "state expired") }
        if let error = callback.error {
            let shown = error.utf8.count <= 64 && error.allSatisfy({ $0.isASCII && ($0.isLetter || $0 == "_") }) ? error : "other"
            throw refuse(s, .providerDenied, "provider error \(shown)")
        }
        guard let code = callback.code, !code.isEmpty, code.utf8.count <= 4096,
            !code.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F })
        else { throw refuse(s, .providerDenied, "no code") }

        let directory = s.services.shared.oidc
        s.releaseServices()  // the token endpoint and the keys are network calls
        let metadata: OIDCMetadata
        do throws(ServiceError) { metadata = try directory.metadata(settings) } catch {
            throw refuse(s, error.code, "discovery failed", outcome: .failed)
        }
        // The state was made for this issuer; an `iss` parameter (RFC 9207) must name it too.
        guard pending.issuer == metadata.issuer else { throw refuse(s, .stateInvalid, "state made for another issuer") }
        if let iss = callback.issuer, iss != metadata.issuer { throw refuse(s, .stateInvalid, "iss parameter of another issuer") }
        let idToken: String
        let keys: JWKSet
        do throws(ServiceError) {
            idToken = try exchange(code: code, verifier: pending.codeVerifier, settings: settings, metadata: metadata)
            keys = try directory.keys(settings, metadata: metadata, needing: (try? CompactJWS.parse(idToken))?.keyID)
        } catch {
            throw refuse(s, error.code, error.code == .tokenInvalid ? "code refused by the provider" : "provider failed", outcome: .failed)
        }
        let claims: IDTokenClaims
        do {
            claims = try IDTokenClaims.verify(
                idToken, keys: keys,
                expect: IDTokenClaims.Expectation(
                    issuer: metadata.issuer, clientID: settings.clientID, nonce: pending.nonce, now: Clock.now()))
        } catch {
            throw refuse(s, .tokenInvalid, "id token: \(error.reason)")
        }
        return try OIDCAccounts.signIn(s, claims: claims, issuer: metadata.issuer, settings: settings)
    }

    /// `GET /auth/oidc/logout`: where to send the browser after its CryoTensor session ended, to end
    /// the provider's session too (RP-initiated logout 1.0): the discovery document's
    /// `end_session_endpoint` with our client id and, as the way back, the site's root (the origin
    /// of `OIDC_REDIRECT_URI` plus `/`, which must be registered at the provider). Nil when the
    /// provider has no such endpoint or cannot be reached: then the browser just goes to `/`.
    package static func logoutLocation(_ s: Scope) -> String? {
        guard let settings = s.config.oidc else { return nil }
        let directory = s.services.shared.oidc
        s.releaseServices()
        guard let metadata = try? directory.metadata(settings), let endpoint = metadata.endSessionEndpoint,
            let callback = URLComponents(string: settings.redirectURI), let scheme = callback.scheme, let host = callback.host
        else { return nil }
        let port = callback.port.map { ":\($0)" } ?? ""
        let back = "\(scheme)://\(host.contains(":") ? "[\(host)]" : host)\(port)/"
        let query = FormEncoding.encode([("client_id", settings.clientID), ("post_logout_redirect_uri", back)])
        return endpoint + (endpoint.contains("?") ? "&" : "?") + query
    }

    /// The code for tokens at the token endpoint (client_secret_basic, the verifier in the body).
    /// Only the ID token is kept; the provider's error text goes to the log in a short form only.
    static func exchange(code: String, verifier: String, settings: OIDCSettings, metadata: OIDCMetadata) throws(ServiceError) -> String {
        let unavailable = ServiceError(.providerUnavailable, "The identity provider's token endpoint failed.")
        let credentials = FormEncoding.escape(settings.clientID) + ":" + FormEncoding.escape(settings.clientSecret.reveal())
        let body = FormEncoding.encode([
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", settings.redirectURI),
            ("code_verifier", verifier), ("client_id", settings.clientID)
        ])
        let response: HTTPResponse
        do {
            response = try HTTPClient.send(
                method: "POST", url: metadata.tokenEndpoint,
                headers: [
                    ("Authorization", "Basic " + Encoding.base64(Array(credentials.utf8))),
                    ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")
                ],
                body: Array(body.utf8), timeoutSeconds: 15, maxBytes: 1 << 20)
        } catch {
            Log.event(.warn, "oidc_token_failed", ["error": .string(error.kind.rawValue)])
            throw unavailable
        }
        let document = try? JSON.parse(response.body)
        guard response.status == 200, case .string(let idToken)? = document?["id_token"] else {
            let error = document?["error"]?.stringValue.map { String($0.prefix(64).filter { $0.isASCII && ($0.isLetter || $0 == "_") }) }
            Log.event(.warn, "oidc_token_failed", ["status": JSON(response.status), "error": JSON(error)])
            // invalid_grant: a used, expired or foreign code; the sign-in is refused as such.
            if error == "invalid_grant" { throw ServiceError(.tokenInvalid, "The sign-in code was refused.") }
            throw unavailable
        }
        return idToken
    }
}

/// application/x-www-form-urlencoded (for the authorization URL's query and the token request):
/// every byte but the unreserved ones percent-encoded.
package enum FormEncoding {
    package static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) {
                out.append(c)
            } else {
                out += "%" + String(format: "%02X", byte)
            }
        }
        return out
    }

    package static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { escape($0.0) + "=" + escape($0.1) }.joined(separator: "&")
    }
}
