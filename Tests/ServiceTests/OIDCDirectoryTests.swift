import Crypto
import Service
import Support
import Synchronization
import TestSupport
import Testing

/// The provider's discovery document and keys as the directory caches them, on a fake clock and a
/// fake network: an unknown `kid` fetches the key set again, but at most once per interval.
@Suite struct OIDCDirectoryTests {
    /// A provider whose key set can be rotated, counting what it is asked.
    final class FakeProvider: Sendable {
        let clock = Mutex(1000.0)
        let kids = Mutex(["key-1"])
        let fetches = Mutex([String: Int]())
        let down = Mutex(false)

        func jwks() -> [UInt8] {
            var rng = SeededGenerator(state: 7)
            let keys: [JSON] = kids.withLock { $0 }.map { kid in
                var modulus = rng.bytes(256)
                modulus[0] |= 0x80
                modulus[255] |= 1
                return ["kty": "RSA", "kid": .string(kid), "n": .string(Base64URL.encode(modulus)), "e": "AQAB"]
            }
            return Array(JSON.object(["keys": .array(keys)]).serialized().utf8)
        }

        func directory() -> OIDCDirectory {
            OIDCDirectory(
                now: { [self] in clock.withLock { $0 } },
                fetch: { [self] url, _, what throws(ServiceError) in
                    fetches.withLock { $0[what, default: 0] += 1 }
                    if down.withLock({ $0 }) { throw ServiceError(.providerUnavailable, "down") }
                    if what == "jwks" { return jwks() }
                    return Array(
                        JSON.object([
                            "issuer": "https://idp.example.com", "authorization_endpoint": "https://idp.example.com/auth",
                            "token_endpoint": "https://idp.example.com/token", "jwks_uri": "https://idp.example.com/jwks"
                        ]).serialized().utf8)
                })
        }

        func advance(_ seconds: Double) { clock.withLock { $0 += seconds } }
        func count(_ what: String) -> Int { fetches.withLock { $0[what] ?? 0 } }
    }

    static func settings() throws -> OIDCSettings {
        try #require(
            try Config.load(environment: [
                "OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "c", "OIDC_CLIENT_SECRET": "s",
                "OIDC_REDIRECT_URI": "https://chat.example.com/api/v1/auth/oidc/callback"
            ]).oidc)
    }

    @Test func anUnknownKidRefreshesTheKeysAtMostOncePerInterval() throws {
        let provider = FakeProvider()
        let directory = provider.directory()
        let settings = try Self.settings()
        let metadata = try directory.metadata(settings)
        #expect(try directory.keys(settings, metadata: metadata, needing: "key-1").hasKey("key-1"))
        #expect(provider.count("jwks") == 1)
        // Known kid: from the cache.
        provider.advance(5)
        _ = try directory.keys(settings, metadata: metadata, needing: "key-1")
        #expect(provider.count("jwks") == 1)
        // The provider rotates; the new kid is fetched at once (the last fetch is a minute old).
        provider.kids.withLock { $0 = ["key-1", "key-2"] }
        provider.advance(OIDCDirectory.refreshInterval)
        #expect(try directory.keys(settings, metadata: metadata, needing: "key-2").hasKey("key-2"))
        #expect(provider.count("jwks") == 2)
        // A flood of random kids within the interval: no fetch at all.
        for i in 0..<50 {
            provider.advance(0.5)
            #expect(!(try directory.keys(settings, metadata: metadata, needing: "random-\(i)").hasKey("random-\(i)")))
        }
        #expect(provider.count("jwks") == 2)
        // After the interval, one more fetch for the next unknown kid, then quiet again.
        provider.advance(OIDCDirectory.refreshInterval)
        _ = try directory.keys(settings, metadata: metadata, needing: "random-x")
        _ = try directory.keys(settings, metadata: metadata, needing: "random-y")
        #expect(provider.count("jwks") == 3)
        // The discovery document was read once, and is read again only after its hour.
        #expect(provider.count("discovery") == 1)
        provider.advance(OIDCDirectory.metadataTTL)
        _ = try directory.metadata(settings)
        #expect(provider.count("discovery") == 2)
    }

    @Test func aFailingProviderKeepsTheOldKeysAndIsNotHammered() throws {
        let provider = FakeProvider()
        let directory = provider.directory()
        let settings = try Self.settings()
        let metadata = try directory.metadata(settings)
        _ = try directory.keys(settings, metadata: metadata, needing: "key-1")
        provider.down.withLock { $0 = true }
        provider.advance(OIDCDirectory.keysTTL + 1)
        // Stale and the provider down: the old keys still serve.
        #expect(try directory.keys(settings, metadata: metadata, needing: "key-1").hasKey("key-1"))
        // A stale discovery document too; a failure is not retried for a few seconds.
        provider.advance(OIDCDirectory.metadataTTL)
        _ = try directory.metadata(settings)
        _ = try directory.metadata(settings)
        #expect(provider.count("discovery") == 2)
        // A directory that never reached the provider says so.
        let fresh = provider.directory()
        #expect(throws: ServiceError.self) { try fresh.metadata(settings) }
    }
}
