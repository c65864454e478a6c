import CCrypto
import Support

/// One public key of a provider's JWKS (RFC 7517), usable for one algorithm only: RSA keys for
/// RS256 (2048 to 8192 bits), P-256 keys for ES256. The OpenSSL key is made once and shared
/// read-only by every thread (OpenSSL 3 keys are safe to use concurrently for verification).
public final class JWK: @unchecked Sendable {
    public enum Kind: String, Sendable { case rsa = "RSA", ec = "EC" }
    public let kind: Kind
    public let keyID: String?
    /// The `alg` the JWK names, when it names one: it must then equal the token's.
    public let algorithm: String?
    let key: OpaquePointer

    init(kind: Kind, keyID: String?, algorithm: String?, key: OpaquePointer) {
        self.kind = kind
        self.keyID = keyID
        self.algorithm = algorithm
        self.key = key
    }

    deinit { EVP_PKEY_free(key) }

    /// The algorithm this key serves.
    public var serves: String { kind == .rsa ? "RS256" : "ES256" }

    /// One key from its JSON object. Keys of other types, curves or uses are refused with a reason
    /// (a JWKS may hold them; `JWKSet` skips them).
    public static func parse(_ object: [String: JSON]) throws(JWSError) -> JWK {
        let kid = object["kid"]?.stringValue
        if let kid, kid.isEmpty || kid.utf8.count > 256 { throw JWSError("kid is not a short string") }
        if let use = object["use"] {
            guard use.stringValue == "sig" else { throw JWSError("key is not for signatures") }
        }
        let alg = object["alg"]?.stringValue
        func bytes(_ name: String, max: Int) throws(JWSError) -> [UInt8] {
            guard case .string(let text)? = object[name], text.utf8.count <= max, let value = Base64URL.decode(text), !value.isEmpty
            else { throw JWSError("key member \(name) is missing or not base64url") }
            return value
        }
        switch object["kty"]?.stringValue {
        case "RSA":
            if let alg, alg != "RS256" { throw JWSError("RSA key for \(JWSError.shown(alg))") }
            var n = try bytes("n", max: 2048)
            let e = try bytes("e", max: 16)
            while n.first == 0 { n.removeFirst() }
            // 2048 bits at least (RFC 7518 section 3.3), 8192 at most: a huge modulus costs us time.
            guard n.count >= 256, n.count <= 1024 else { throw JWSError("RSA modulus of \(n.count * 8) bits") }
            guard e.count <= 8, (e.last ?? 0) & 1 == 1 else { throw JWSError("RSA exponent is not odd and short") }
            guard
                let key = n.withUnsafeBufferPointer({ np in
                    e.withUnsafeBufferPointer { ep in
                        ccrypto_rsa_public_key(np.baseAddress, np.count, ep.baseAddress, ep.count)
                    }
                })
            else { throw JWSError("RSA key rejected by OpenSSL") }
            return JWK(kind: .rsa, keyID: kid, algorithm: alg, key: key)
        case "EC":
            if let alg, alg != "ES256" { throw JWSError("EC key for \(JWSError.shown(alg))") }
            guard object["crv"]?.stringValue == "P-256" else { throw JWSError("EC key on a curve other than P-256") }
            let x = try bytes("x", max: 64)
            let y = try bytes("y", max: 64)
            guard x.count == 32, y.count == 32 else { throw JWSError("P-256 coordinates are not 32 bytes") }
            let point: [UInt8] = [0x04] + x + y
            guard let key = point.withUnsafeBufferPointer({ ccrypto_p256_public_key($0.baseAddress, $0.count) }) else {
                throw JWSError("P-256 point rejected by OpenSSL (not on the curve)")
            }
            return JWK(kind: .ec, keyID: kid, algorithm: alg, key: key)
        default:
            throw JWSError("key type is not RSA or EC")
        }
    }
}

/// A provider's key set: every usable signing key of a JWKS document; unusable ones are skipped.
public struct JWKSet: Sendable {
    public static let maxBytes = 256 * 1024
    public static let maxKeys = 64
    public let keys: [JWK]
    /// Why each skipped key was skipped (for the log; never key material).
    public let skipped: [String]

    public init(keys: [JWK], skipped: [String] = []) {
        self.keys = keys
        self.skipped = skipped
    }

    public static func parse(_ bytes: [UInt8]) throws(JWSError) -> JWKSet {
        guard bytes.count <= maxBytes else { throw JWSError("JWKS larger than \(maxBytes) bytes") }
        let document: JSON
        do { document = try JSON.parse(bytes) } catch { throw JWSError("JWKS is not JSON") }
        guard case .array(let entries)? = document["keys"] else { throw JWSError("JWKS has no keys array") }
        guard entries.count <= maxKeys else { throw JWSError("JWKS has more than \(maxKeys) keys") }
        var keys: [JWK] = []
        var skipped: [String] = []
        for entry in entries {
            guard case .object(let fields) = entry else {
                skipped.append("not an object")
                continue
            }
            do throws(JWSError) { keys.append(try JWK.parse(fields)) } catch { skipped.append(error.reason) }
        }
        return JWKSet(keys: keys, skipped: skipped)
    }

    /// The key for a token: by `kid` when the token names one; without a `kid`, the only key of
    /// the algorithm's type, if there is exactly one.
    public func key(for keyID: String?, algorithm: String) -> JWK? {
        let candidates = keys.filter { $0.serves == algorithm && ($0.algorithm == nil || $0.algorithm == algorithm) }
        if let keyID { return candidates.first { $0.keyID == keyID } }
        return candidates.count == 1 ? candidates.first : nil
    }

    public func hasKey(_ keyID: String) -> Bool { keys.contains { $0.keyID == keyID } }
}
