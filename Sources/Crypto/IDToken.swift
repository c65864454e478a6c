import CCrypto
import Support

/// Signature checks of a parsed JWS with OpenSSL. Only two algorithms exist here: RS256 (RSASSA
/// PKCS#1 v1.5 with SHA-256, what Keycloak and Entra ID sign with by default) and ES256 (ECDSA on
/// P-256 with SHA-256). `none` and every HMAC algorithm are refused before any key is looked at:
/// with HS256 a forger would "sign" with the provider's public key as the HMAC secret (key
/// confusion). A key serves the one algorithm of its type, never another.
public enum JWSVerifier {
    public static let algorithms: Set<String> = ["RS256", "ES256"]

    public static func verify(_ jws: CompactJWS, key: JWK) throws(JWSError) {
        let alg = jws.algorithm
        guard algorithms.contains(alg) else { throw JWSError("algorithm \(JWSError.shown(alg)) is not accepted") }
        guard key.serves == alg, key.algorithm == nil || key.algorithm == alg else { throw JWSError("key does not serve \(alg)") }
        let signature: [UInt8]
        switch key.kind {
        case .rsa:
            guard ccrypto_key_is_rsa(key.key) == 1 else { throw JWSError("key is not RSA") }
            signature = jws.signature
        case .ec:
            guard ccrypto_key_is_ec(key.key) == 1 else { throw JWSError("key is not EC") }
            // JWS carries r || s (32 bytes each, RFC 7518 section 3.4); OpenSSL wants DER.
            guard jws.signature.count == 64, let der = ECDSASignature.der(raw: jws.signature) else {
                throw JWSError("ES256 signature is not 64 bytes of r || s")
            }
            signature = der
        }
        guard !signature.isEmpty, let ctx = EVP_MD_CTX_new() else { throw JWSError("signature missing") }
        defer { EVP_MD_CTX_free(ctx) }
        let ok = jws.signingInput.withUnsafeBufferPointer { input in
            signature.withUnsafeBufferPointer { sig in
                EVP_DigestVerifyInit(ctx, nil, EVP_sha256(), nil, key.key) == 1
                    && EVP_DigestVerify(ctx, sig.baseAddress, sig.count, input.baseAddress, input.count) == 1
            }
        }
        ERR_clear_error()
        guard ok else { throw JWSError("signature does not verify") }
    }
}

/// ECDSA signatures between JWS's fixed-size form and DER (`SEQUENCE { INTEGER r, INTEGER s }`).
public enum ECDSASignature {
    /// DER for a raw r || s of two equal halves; nil when a half is zero.
    public static func der(raw: [UInt8]) -> [UInt8]? {
        guard raw.count % 2 == 0, !raw.isEmpty else { return nil }
        let half = raw.count / 2
        func integer(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
            var value = Array(bytes.drop { $0 == 0 })
            guard !value.isEmpty else { return nil }
            if value[0] & 0x80 != 0 { value.insert(0, at: 0) }  // DER integers are signed
            return [0x02, UInt8(value.count)] + value
        }
        guard let r = integer(raw[0..<half]), let s = integer(raw[half...]) else { return nil }
        let body = r + s
        guard body.count < 128 else { return nil }  // P-256: at most 2 * 35 bytes, a short length
        return [0x30, UInt8(body.count)] + body
    }
}

/// The claims checks of an OpenID Connect ID token (Core 1.0 section 3.1.3.7), after its
/// signature verified: issuer, audience (and `azp` when there are several), expiry, issue time and
/// not-before with a small leeway, and the nonce of this sign-in.
public struct IDTokenClaims: Sendable {
    public let subject: String
    public let email: String?
    public let emailVerified: Bool
    public let claims: [String: JSON]

    public struct Expectation: Sendable {
        public var issuer: String
        public var clientID: String
        public var nonce: String
        public var now: Int64
        public var leewaySeconds: Int64 = 60
        /// An ID token is minted for this exchange; one issued longer ago than this is refused.
        public var maxAgeSeconds: Int64 = 600

        public init(issuer: String, clientID: String, nonce: String, now: Int64) {
            self.issuer = issuer
            self.clientID = clientID
            self.nonce = nonce
            self.now = now
        }
    }

    /// Parses, finds the key, verifies the signature, then checks every claim. The reason of a
    /// refusal names the check that failed.
    public static func verify(_ token: String, keys: JWKSet, expect: Expectation) throws(JWSError) -> IDTokenClaims {
        let jws = try CompactJWS.parse(token)
        guard JWSVerifier.algorithms.contains(jws.algorithm) else {
            throw JWSError("algorithm \(JWSError.shown(jws.algorithm)) is not accepted")
        }
        guard let key = keys.key(for: jws.keyID, algorithm: jws.algorithm) else { throw JWSError("no key for this kid") }
        try JWSVerifier.verify(jws, key: key)
        return try check(jws.payload, expect: expect)
    }

    public static func check(_ claims: [String: JSON], expect: Expectation) throws(JWSError) -> IDTokenClaims {
        guard claims["iss"]?.stringValue == expect.issuer else { throw JWSError("iss is not the configured issuer") }
        let audiences: [String]
        switch claims["aud"] {
        case .string(let one)?: audiences = [one]
        case .array(let many)?:
            audiences = many.compactMap(\.stringValue)
            guard audiences.count == many.count, !many.isEmpty else { throw JWSError("aud is not a list of strings") }
        default: throw JWSError("aud is missing")
        }
        guard audiences.contains(expect.clientID) else { throw JWSError("aud does not name this client") }
        if let azp = claims["azp"] {
            guard azp.stringValue == expect.clientID else { throw JWSError("azp is not this client") }
        } else if audiences.count > 1 {
            throw JWSError("several audiences and no azp")
        }
        func time(_ name: String) throws(JWSError) -> Int64? {
            guard let value = claims[name] else { return nil }
            guard case .number(let n) = value, n.isFinite, n >= 0, n < 1e11 else { throw JWSError("\(name) is not a time") }
            return Int64(n)
        }
        guard let exp = try time("exp") else { throw JWSError("exp is missing") }
        guard expect.now < exp + expect.leewaySeconds else { throw JWSError("token expired") }
        guard let iat = try time("iat") else { throw JWSError("iat is missing") }
        guard iat <= expect.now + expect.leewaySeconds else { throw JWSError("iat is in the future") }
        guard iat >= expect.now - expect.maxAgeSeconds - expect.leewaySeconds else { throw JWSError("iat is too old") }
        if let nbf = try time("nbf"), nbf > expect.now + expect.leewaySeconds { throw JWSError("token not yet valid") }
        guard case .string(let nonce)? = claims["nonce"],
            Encoding.constantTimeEqual(Array(nonce.utf8), Array(expect.nonce.utf8))
        else { throw JWSError("nonce does not match this sign-in") }
        guard case .string(let sub)? = claims["sub"], !sub.isEmpty, sub.utf8.count <= 255,
            !sub.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else { throw JWSError("sub is missing or malformed") }
        // Only a JSON true counts as verified: a string "true" or anything else does not.
        let verified = claims["email_verified"] == .bool(true)
        return IDTokenClaims(subject: sub, email: claims["email"]?.stringValue, emailVerified: verified, claims: claims)
    }
}
