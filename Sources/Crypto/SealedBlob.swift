import Support

/// The binary form of a `ct1.` envelope, kept in a SQLite BLOB: a form byte (1), the 4 bytes the
/// key id's 8 hex digits spell, then nonce | ciphertext | tag. The same bytes as the text form
/// less the base64: a quarter smaller, and nothing to decode when a transcript is read.
public enum SealedBlob {
    public static let form: UInt8 = 1
    static let headerSize = 5
    static let minimumSize = headerSize + AESGCM.nonceSize + AESGCM.tagSize

    /// The blob for a text envelope, or nil when `text` is not one.
    public static func fromEnvelope(_ text: String) -> [UInt8]? {
        guard let (id, payload) = Keyring.parse(text), let word = idWord(id) else { return nil }
        return [
            form, UInt8(truncatingIfNeeded: word >> 24), UInt8(truncatingIfNeeded: word >> 16),
            UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)
        ] + payload
    }

    /// The text envelope a blob stands for (for code that reads envelopes as strings), or nil.
    public static func envelope(_ blob: [UInt8]) -> String? {
        blob.withUnsafeBufferPointer { b -> String? in
            guard let (word, payload) = split(UnsafeRawBufferPointer(b)) else { return nil }
            return Keyring.prefix + idHex(word) + "." + Encoding.base64url(Array(payload))
        }
    }

    /// Key id word and payload (nonce | ciphertext | tag) of a blob, or nil when it is not one.
    static func split(_ blob: UnsafeRawBufferPointer) -> (UInt32, UnsafeRawBufferPointer)? {
        guard blob.count >= minimumSize, blob[0] == form else { return nil }
        let word = UInt32(blob[1]) << 24 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 8 | UInt32(blob[4])
        return (word, UnsafeRawBufferPointer(rebasing: blob[headerSize...]))
    }

    /// A key id (8 lowercase hex digits) as a number.
    static func idWord(_ id: String) -> UInt32? {
        guard id.utf8.count == 8 else { return nil }
        return UInt32(id, radix: 16)
    }

    static func idHex(_ word: UInt32) -> String {
        Encoding.hex([
            UInt8(truncatingIfNeeded: word >> 24), UInt8(truncatingIfNeeded: word >> 16),
            UInt8(truncatingIfNeeded: word >> 8), UInt8(truncatingIfNeeded: word)
        ])
    }
}
