import Crypto
import Support

/// Entries that steer anything are authenticated: whoever can write to Redis (another tenant of
/// a shared server, a leaked password) must not be able to plant a model list or an artifact.
///
/// Wire format, version 2: `ct2.<HMAC-SHA256 in lowercase hex>.<value>`, the MAC taken under a
/// key kept in SQLite over `cryotensor cache v2\n`, then the key's name and `context`, each as
/// `<UTF-8 byte count>:<text>`, then the value. Binding the key name means an entry copied to
/// another key fails; `context` binds what the key does not say (the connection's URL, the user).
/// Entries of version 1 (a JSON document with a `mac` field, written by callers before this API)
/// read as misses and are replaced on the next write.
extension Cache {
    static let signedPrefix = "ct2."
    /// Shorter MAC keys are refused: an empty one would make every entry forgeable.
    public static let minMACKeyBytes = 16

    static func mac(_ key: CacheKey, context: String, value: String, macKey: [UInt8]) -> String {
        var data = Array("cryotensor cache v2\n".utf8)
        for part in [key.name, context] { data += Array("\(part.utf8.count):\(part)".utf8) }
        data += Array(value.utf8)
        return Encoding.hex(Digest.hmacSHA256(key: macKey, data: data))
    }

    /// Stores `value` under `key`, authenticated for `context`.
    public func setSigned(_ key: CacheKey, _ value: String, context: String, macKey: [UInt8], ttlSeconds: Int) {
        guard macKey.count >= Self.minMACKeyBytes else { return }
        set(key, Self.signedPrefix + Self.mac(key, context: context, value: value, macKey: macKey) + "." + value, ttlSeconds: ttlSeconds)
    }

    /// The value stored by `setSigned` with the same key, context and MAC key; nil when absent,
    /// longer than `maxBytes`, or not authentic (logged as `cache_entry_rejected`).
    public func getSigned(_ key: CacheKey, context: String, macKey: [UInt8], maxBytes: Int = 4 << 20) -> String? {
        // Entries of an earlier format (or none of ours) are a quiet miss; only a forged ct2 entry is worth a warning.
        guard macKey.count >= Self.minMACKeyBytes, let stored = get(key), stored.hasPrefix(Self.signedPrefix) else { return nil }
        guard let value = Self.verify(stored, key: key, context: context, macKey: macKey, maxBytes: maxBytes) else {
            Log.event(.warn, "cache_entry_rejected", ["key": .string(key.name)])
            return nil
        }
        return value
    }

    static func verify(_ stored: String, key: CacheKey, context: String, macKey: [UInt8], maxBytes: Int) -> String? {
        let bytes = Array(stored.utf8)
        let prefix = Array(signedPrefix.utf8)
        let headerLength = prefix.count + 64 + 1
        guard bytes.count >= headerLength, bytes.count - headerLength <= maxBytes, bytes.starts(with: prefix),
            bytes[headerLength - 1] == UInt8(ascii: ".")
        else { return nil }
        let sent = Array(bytes[prefix.count..<(headerLength - 1)])
        let value = String(decoding: bytes[headerLength...], as: UTF8.self)
        let expected = Array(mac(key, context: context, value: value, macKey: macKey).utf8)
        return Encoding.constantTimeEqual(sent, expected) ? value : nil
    }
}
