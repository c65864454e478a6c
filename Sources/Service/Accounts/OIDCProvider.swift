import Crypto
import Outbound
import Support
import Synchronization

/// What the identity provider's discovery document says, as far as sign-in needs it.
public struct OIDCMetadata: Sendable {
    public let issuer: String
    public let authorizationEndpoint: String
    public let tokenEndpoint: String
    public let jwksURI: String
    public let endSessionEndpoint: String?

    public static let maxBytes = 256 * 1024

    /// Parses and checks a discovery document (OpenID Connect Discovery 1.0 section 4.3): its
    /// `issuer` must be the configured one (a trailing slash aside), and every endpoint must pass
    /// the same URL rule as the issuer (https, or http on loopback for a test provider).
    public static func parse(_ bytes: [UInt8], settings: OIDCSettings) throws(ServiceError) -> OIDCMetadata {
        func fail(_ why: String) -> ServiceError {
            Log.event(.warn, "oidc_discovery_invalid", ["reason": .string(why)])
            return ServiceError(.providerUnavailable, "The identity provider's discovery document is not acceptable.")
        }
        guard bytes.count <= maxBytes, case .object(let doc)? = try? JSON.parse(bytes) else { throw fail("not a JSON object") }
        guard case .string(let issuer)? = doc["issuer"],
            issuer == settings.issuer || issuer + "/" == settings.issuer || issuer == settings.issuer + "/"
        else { throw fail("issuer is not OIDC_ISSUER") }
        func endpoint(_ name: String, required: Bool = true) throws(ServiceError) -> String? {
            guard case .string(let url)? = doc[name] else {
                if required { throw fail("\(name) is missing") }
                return nil
            }
            if let why = OIDCSettings.urlProblem(url, allowInsecureHTTP: settings.allowInsecureHTTP, allowQuery: name != "jwks_uri") {
                throw fail("\(name) \(why)")
            }
            return url
        }
        if case .array(let methods)? = doc["code_challenge_methods_supported"], !methods.contains(.string("S256")) {
            throw fail("the provider does not support PKCE with S256")
        }
        guard let authorization = try endpoint("authorization_endpoint"), let token = try endpoint("token_endpoint"),
            let jwks = try endpoint("jwks_uri")
        else { throw fail("an endpoint is missing") }
        return OIDCMetadata(
            issuer: issuer, authorizationEndpoint: authorization, tokenEndpoint: token, jwksURI: jwks,
            endSessionEndpoint: try endpoint("end_session_endpoint", required: false))
    }
}

/// The provider's discovery document and keys, cached per process. Keys are fetched again when a
/// token names a `kid` the cached set lacks (a rotation), at most once per `refreshInterval`, so
/// tokens with random kids cannot make the service hammer the provider.
package final class OIDCDirectory: Sendable {
    package static let metadataTTL: Double = 3600
    package static let keysTTL: Double = 3600
    package static let refreshInterval: Double = 60

    struct Cached: Sendable {
        var metadata: OIDCMetadata?
        var metadataAt: Double = 0
        var keys: JWKSet?
        var keysAt: Double = 0
        var lastKeyFetch: Double = -Double.infinity
        var lastMetadataFailure: Double = -Double.infinity
    }
    let state = Mutex(Cached())
    /// Seconds on a monotonic clock, and one GET (url, byte cap, what for the log): the network and
    /// the clock, replaceable in tests.
    package typealias Fetch = @Sendable (String, Int, String) throws(ServiceError) -> [UInt8]
    let now: @Sendable () -> Double
    let fetch: Fetch

    package init(
        now: @escaping @Sendable () -> Double = { Clock.monotonicMillis() / 1000 },
        fetch: @escaping Fetch = { url, maxBytes, what throws(ServiceError) in try OIDCDirectory.get(url, maxBytes: maxBytes, what: what) }
    ) {
        self.now = now
        self.fetch = fetch
    }

    /// The discovery document, from the cache while fresh. A failed fetch is not retried for five
    /// seconds (each login would otherwise wait on a dead provider's timeout).
    package func metadata(_ settings: OIDCSettings) throws(ServiceError) -> OIDCMetadata {
        let now = self.now()
        let cached = state.withLock { $0 }
        if let m = cached.metadata, now - cached.metadataAt < Self.metadataTTL { return m }
        if now - cached.lastMetadataFailure < 5, let m = cached.metadata { return m }
        if now - cached.lastMetadataFailure < 5 {
            throw ServiceError(.providerUnavailable, "The identity provider cannot be reached.")
        }
        do throws(ServiceError) {
            let body = try fetch(settings.discoveryURL, OIDCMetadata.maxBytes, "discovery")
            let metadata = try OIDCMetadata.parse(body, settings: settings)
            state.withLock {
                $0.metadata = metadata
                $0.metadataAt = now
            }
            return metadata
        } catch {
            state.withLock { $0.lastMetadataFailure = now }
            if let m = cached.metadata { return m }  // a stale document beats none
            throw error
        }
    }

    /// The key set, from the cache while fresh; fetched again when `kid` is not in it and the last
    /// fetch is older than `refreshInterval`.
    package func keys(_ settings: OIDCSettings, metadata: OIDCMetadata, needing kid: String?) throws(ServiceError) -> JWKSet {
        let now = self.now()
        let decision: (JWKSet?, Bool) = state.withLock { s in
            let fresh = s.keys != nil && now - s.keysAt < Self.keysTTL
            let known = kid.map { s.keys?.hasKey($0) ?? false } ?? true
            if fresh && known { return (s.keys, false) }
            // Unknown kid or stale set: one fetch per interval for the whole process.
            if now - s.lastKeyFetch < Self.refreshInterval { return (s.keys, false) }
            s.lastKeyFetch = now
            return (s.keys, true)
        }
        guard decision.1 else {
            guard let keys = decision.0 else { throw ServiceError(.providerUnavailable, "The identity provider's keys are unavailable.") }
            return keys
        }
        do throws(ServiceError) {
            let body = try fetch(metadata.jwksURI, JWKSet.maxBytes, "jwks")
            let keys: JWKSet
            do throws(JWSError) { keys = try JWKSet.parse(body) } catch {
                Log.event(.warn, "oidc_jwks_invalid", ["reason": .string(error.reason)])
                throw ServiceError(.providerUnavailable, "The identity provider's keys are not acceptable.")
            }
            if !keys.skipped.isEmpty {
                Log.event(
                    .info, "oidc_jwks_skipped",
                    ["count": JSON(keys.skipped.count), "reasons": .array(keys.skipped.prefix(8).map { .string($0) })])
            }
            state.withLock {
                $0.keys = keys
                $0.keysAt = now
            }
            return keys
        } catch {
            if let old = decision.0 { return old }
            throw error
        }
    }

    /// One GET through the project's provider client: no redirect followed, no proxy, the answer
    /// capped at `maxBytes`, 10 seconds at most. Only a 200 with a body counts.
    static func get(_ url: String, maxBytes: Int, what: String) throws(ServiceError) -> [UInt8] {
        let response: HTTPResponse
        do {
            response = try HTTPClient.send(
                method: "GET", url: url, headers: [("Accept", "application/json")], timeoutSeconds: 10, maxBytes: maxBytes)
        } catch {
            Log.event(.warn, "oidc_fetch_failed", ["what": .string(what), "error": .string(error.kind.rawValue)])
            throw ServiceError(.providerUnavailable, "The identity provider cannot be reached.")
        }
        guard response.status == 200 else {
            Log.event(.warn, "oidc_fetch_failed", ["what": .string(what), "status": JSON(response.status)])
            throw ServiceError(.providerUnavailable, "The identity provider answered with an error.")
        }
        return response.body
    }
}
