import Support

/// What a stored secret is for; each purpose gets its own HKDF-derived key.
public enum KeyPurpose: String, Sendable, CaseIterable {
    case configSecret = "config-secret"
    case transcript = "transcript"
    case export = "export"
    case pipeValve = "pipe-valve"
    case artifact = "artifact"
}

public enum EnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed
    case unknownKey(String)
    case authenticationFailed
    case noKey

    public var description: String {
        switch self {
        case .malformed: "not a CryoTensor ciphertext"
        case .unknownKey(let id): "made with key \(id), which is neither the current nor a previous key"
        case .authenticationFailed: "does not decrypt (tampered, moved to another place, or made with another key)"
        case .noKey: "no encryption key is configured"
        }
    }
}

/// The current encryption key and the previous ones (read-only). Stored form of a secret:
/// `ct1.<key id>.<base64url(nonce | ciphertext | tag)>`, sealed with AES-256-GCM under
/// HKDF-SHA256(master key, purpose) and bound to its place by the associated data.
public struct Keyring: Sendable {
    struct Key: Sendable {
        let id: String
        /// The id earlier versions wrote into envelopes; still accepted when opening.
        let legacyID: String
        /// HKDF output per purpose, derived once: deriving per value would dominate decryption.
        let derived: [KeyPurpose: [UInt8]]
        /// Both ids as numbers, the way blobs carry them.
        let word: UInt32?
        let legacyWord: UInt32?

        init(_ master: String) {
            id = Keyring.keyID(master)
            legacyID = Keyring.legacyKeyID(master)
            word = SealedBlob.idWord(id)
            legacyWord = SealedBlob.idWord(legacyID)
            var derived: [KeyPurpose: [UInt8]] = [:]
            for purpose in KeyPurpose.allCases {
                derived[purpose] = try? KDF.hkdfSHA256(
                    key: Array(master.utf8), salt: Array("cryotensor".utf8),
                    info: Array("cryotensor v1 \(purpose.rawValue)".utf8), length: 32)
            }
            self.derived = derived
        }
    }
    let current: Key?
    let previous: [Key]
    /// Shared by every copy of this keyring: lets a `SealedReader` know it is the same keys as
    /// last time without looking them up again.
    final class Identity: Sendable {}
    let identity = Identity()

    public static let prefix = "ct1."

    public init(current: String?, previous: [String]) {
        self.current = current.map(Key.init)
        self.previous = previous.map(Key.init)
    }

    public var hasKey: Bool { current != nil }
    public var currentKeyID: String? { current?.id }
    public var previousKeyIDs: [String] { previous.map(\.id) }

    /// A short public name for a key: 8 hex of an HMAC under the key's own HKDF subkey for this
    /// use, so the id is no shortcut for checking a guessed key against anything else.
    public static func keyID(_ key: String) -> String {
        Encoding.hex(Array(Digest.hmacSHA256(key: Subkey.derive(key, "key-id"), data: Array("cryotensor key id v2".utf8)).prefix(4)))
    }

    /// The id of versions before HKDF subkeys: 8 hex of HMAC-SHA256(key, label).
    static func legacyKeyID(_ key: String) -> String {
        Encoding.hex(Array(Digest.hmacSHA256(key: Array(key.utf8), data: Array("cryotensor key id v1".utf8)).prefix(4)))
    }

    func key(named id: String) -> Key? {
        if let current, current.id == id || current.legacyID == id { return current }
        return previous.first { $0.id == id || $0.legacyID == id }
    }

    func key(word: UInt32) -> Key? {
        if let current, current.word == word || current.legacyWord == word { return current }
        return previous.first { $0.word == word || $0.legacyWord == word }
    }

    static func derive(_ key: Key, _ purpose: KeyPurpose) throws(CryptoError) -> [UInt8] {
        guard let derived = key.derived[purpose] else { throw CryptoError("key derivation failed") }
        return derived
    }

    public func seal(_ plaintext: [UInt8], purpose: KeyPurpose, place: String) throws(EnvelopeError) -> String {
        guard let current else { throw .noKey }
        do {
            let nonce = Random.bytes(AESGCM.nonceSize)
            let sealed = try AESGCM.seal(key: try Self.derive(current, purpose), nonce: nonce, plaintext: plaintext, aad: Array(place.utf8))
            return Self.prefix + current.id + "." + Encoding.base64url(nonce + sealed.ciphertext + sealed.tag)
        } catch {
            throw .authenticationFailed
        }
    }

    public func seal(_ text: String, purpose: KeyPurpose, place: String) throws(EnvelopeError) -> String {
        try seal(Array(text.utf8), purpose: purpose, place: place)
    }

    public func open(_ envelope: String, purpose: KeyPurpose, place: String) throws(EnvelopeError) -> [UInt8] {
        guard let (id, payload) = Self.parse(envelope) else { throw .malformed }
        guard let key = key(named: id) else { throw .unknownKey(id) }
        guard payload.count >= AESGCM.nonceSize + AESGCM.tagSize else { throw .malformed }
        let nonce = Array(payload.prefix(AESGCM.nonceSize))
        let tag = Array(payload.suffix(AESGCM.tagSize))
        let ciphertext = Array(payload.dropFirst(AESGCM.nonceSize).dropLast(AESGCM.tagSize))
        do {
            return try AESGCM.open(
                key: try Self.derive(key, purpose), nonce: nonce, ciphertext: ciphertext, tag: tag,
                aad: Array(place.utf8))
        } catch {
            throw .authenticationFailed
        }
    }

    public func openString(_ envelope: String, purpose: KeyPurpose, place: String) throws(EnvelopeError) -> String {
        let bytes = try open(envelope, purpose: purpose, place: place)
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed }
        return text
    }

    public static func isEnvelope(_ text: String) -> Bool { parse(text) != nil }

    /// The key id an envelope names, if it is one.
    public static func keyID(ofEnvelope text: String) -> String? { parse(text)?.0 }

    /// `ct1.` + 8-character key id + `.` + base64url payload. Read as bytes: this runs once per
    /// stored value when a long encrypted transcript is loaded.
    static func parse(_ text: String) -> (String, [UInt8])? {
        let bytes = Array(text.utf8)
        let head = Array(prefix.utf8)
        guard bytes.count > head.count + 9, bytes.starts(with: head), bytes[head.count + 8] == UInt8(ascii: ".") else { return nil }
        let idBytes = bytes[head.count..<head.count + 8]
        let encoded = bytes[(head.count + 9)...]
        // Only the unpadded base64url that `seal` writes: '+', '/' or '=' would spell the same payload a
        // second way, and a changed envelope must never open.
        guard idBytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }),
            !encoded.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "=") }),
            let payload = Encoding.fromBase64(utf8: encoded)
        else { return nil }
        return (String(decoding: idBytes, as: UTF8.self), payload)
    }
}

/// Opens many envelopes of one purpose (reading a long encrypted transcript) through this
/// thread's `SealedReader`: the AES context is set up once per thread and key, not per request.
public final class EnvelopeOpener {
    let keyring: Keyring
    let purpose: KeyPurpose

    public init(keyring: Keyring, purpose: KeyPurpose) {
        self.keyring = keyring
        self.purpose = purpose
    }

    public func openString(_ envelope: String, place: String) throws(EnvelopeError) -> String {
        guard let blob = SealedBlob.fromEnvelope(envelope) else { throw .malformed }
        var place = place
        let reader = SealedReader.forThisThread()
        // The pointer methods rethrow untyped errors: the result carries the typed one out.
        let result = blob.withUnsafeBytes { b in
            place.withUTF8 { p in
                Result { () throws(EnvelopeError) -> String in
                    let text = try reader.open(blob: b, keyring: keyring, purpose: purpose, place: p)
                    defer { reader.wipe() }
                    guard UTF8Check.isValid(text) else { throw .malformed }
                    return String(decoding: text, as: UTF8.self)
                }
            }
        }
        return try result.get()
    }
}
