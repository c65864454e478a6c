import Support

/// Why a JWS, a JWK or an ID token was refused. The reason names the check, never the token.
public struct JWSError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { "jws: \(reason)" }

    /// An algorithm name from a token or key as a reason may show it: letters and digits, at most 16.
    static func shown(_ alg: String) -> String { String(alg.filter { $0.isASCII && ($0.isLetter || $0.isNumber) }.prefix(16)) }
}

/// A JWS in compact serialization (RFC 7515 section 7.1), parsed strictly and nothing more: the
/// signature is not checked here (`JWSVerifier` does). Written for this project instead of taken
/// from a library (docs/security.md, "Sign-in with an identity provider"):
/// - at most `maxLength` bytes, exactly three parts, header and payload not empty;
/// - base64url without padding, in its canonical form only (`Base64URL.decode`);
/// - header and payload are JSON objects read by the project's strict parser (duplicate keys,
///   bad UTF-8 and deep nesting are refused there);
/// - `alg` is a string; `crit` is refused (no extension is understood); `typ`, when present, is
///   `JWT`; keys named in the header (`jwk`, `jku`, `x5u`, `x5c`) are never used.
public struct CompactJWS: Sendable {
    public static let maxLength = 64 * 1024

    public let header: [String: JSON]
    public let payload: [String: JSON]
    /// The bytes the signature covers: `base64url(header) "." base64url(payload)`, as received.
    public let signingInput: [UInt8]
    public let signature: [UInt8]

    public var algorithm: String { header["alg"]?.stringValue ?? "" }
    public var keyID: String? { header["kid"]?.stringValue }

    public static func parse(_ text: String) throws(JWSError) -> CompactJWS {
        try parse(Array(text.utf8))
    }

    public static func parse(_ bytes: [UInt8]) throws(JWSError) -> CompactJWS {
        guard !bytes.isEmpty else { throw JWSError("empty token") }
        guard bytes.count <= maxLength else { throw JWSError("token longer than \(maxLength) bytes") }
        let dot = UInt8(ascii: ".")
        let parts = bytes.split(separator: dot, maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw JWSError("not three dot-separated parts") }
        guard !parts[0].isEmpty, !parts[1].isEmpty else { throw JWSError("empty header or payload") }
        guard let headerBytes = Base64URL.decode(parts[0]) else { throw JWSError("header is not canonical base64url") }
        guard let payloadBytes = Base64URL.decode(parts[1]) else { throw JWSError("payload is not canonical base64url") }
        guard let signature = Base64URL.decode(parts[2]) else { throw JWSError("signature is not canonical base64url") }
        let header = try object(headerBytes, "header")
        let payload = try object(payloadBytes, "payload")
        guard case .string(let alg)? = header["alg"], !alg.isEmpty, alg.count <= 16 else { throw JWSError("header has no alg") }
        guard header["crit"] == nil else { throw JWSError("header has crit, which is not supported") }
        if let typ = header["typ"] {
            guard case .string(let t) = typ, t.uppercased() == "JWT" else { throw JWSError("typ is not JWT") }
        }
        if let kid = header["kid"] {
            guard case .string(let k) = kid, !k.isEmpty, k.utf8.count <= 256 else { throw JWSError("kid is not a short string") }
        }
        let input = Array(bytes[bytes.startIndex..<parts[1].endIndex])
        return CompactJWS(header: header, payload: payload, signingInput: input, signature: signature)
    }

    static func object(_ bytes: [UInt8], _ what: String) throws(JWSError) -> [String: JSON] {
        let value: JSON
        do { value = try JSON.parse(bytes) } catch { throw JWSError("\(what) is not JSON") }
        guard case .object(let fields) = value else { throw JWSError("\(what) is not a JSON object") }
        return fields
    }
}

/// base64url without padding (RFC 7515 section 2), strictly: only the URL-safe alphabet, no
/// `=`, no whitespace, no length of 1 modulo 4, and unused trailing bits must be zero, so each
/// byte string has exactly one accepted text (no two tokens differ only in their encoding).
public enum Base64URL {
    static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (i, c) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8.enumerated() { table[Int(c)] = Int8(i) }
        return table
    }()

    public static func decode(_ text: String) -> [UInt8]? { decode(Array(text.utf8)[...]) }

    public static func decode(_ text: ArraySlice<UInt8>) -> [UInt8]? {
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text {
            let v = values[Int(c)]
            guard v >= 0 else { return nil }
            accumulator = (accumulator << 6) | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits (2 or 4) must be zero: otherwise two texts would decode to one value.
        guard accumulator == 0 else { return nil }
        return out
    }

    public static func encode(_ bytes: [UInt8]) -> String { Encoding.base64url(bytes) }
}
