import Crypto
import Support
import Synchronization

/// Where secrets live. With `CONFIG_ENCRYPTION_KEY`: sealed envelopes, persisted by the caller.
/// Without it: this process's memory only (all threads share it), lost on restart, written nowhere.
public final class SecretVault: Sendable {
    public let keyring: Keyring
    package let memory = Mutex<[String: String]>([:])

    public init(keyring: Keyring) { self.keyring = keyring }

    public var storage: String { keyring.hasKey ? "encrypted" : "memory" }

    /// The ciphertext to persist for `place`, or nil in memory mode (then `remember` it once
    /// the row that owns it is committed, so a rolled-back row never leaves a key behind).
    public func seal(_ value: String, place: String) throws -> String? {
        keyring.hasKey ? try keyring.seal(value, purpose: .configSecret, place: place) : nil
    }

    public func remember(_ value: String, place: String) {
        memory.withLock { $0[place] = value }
    }

    public func clear(place: String) {
        memory.withLock { $0[place] = nil }
    }

    public enum Lookup {
        case none
        case value(String)
        case undecryptable(EnvelopeError)
    }

    /// Reads the secret of `place` from its persisted ciphertext, or from memory.
    public func read(place: String, ciphertext: String?) -> Lookup {
        if let ciphertext {
            do {
                return .value(try keyring.openString(ciphertext, purpose: .configSecret, place: place))
            } catch {
                return .undecryptable(error)
            }
        }
        if let value = memory.withLock({ $0[place] }) { return .value(value) }
        return .none
    }

    /// The `{set, storage, fingerprint}` object of SPEC section 4. Never contains the secret.
    public func describe(place: String, ciphertext: String?) -> JSON {
        switch read(place: place, ciphertext: ciphertext) {
        case .none:
            return ["set": false, "storage": .string(storage), "fingerprint": .null]
        case .value(let v):
            return ["set": true, "storage": .string(ciphertext == nil ? "memory" : "encrypted"), "fingerprint": JSON(Fingerprint.of(v))]
        case .undecryptable(let e):
            return ["set": true, "storage": "encrypted", "fingerprint": .null, "error": "undecryptable", "detail": .string(e.description)]
        }
    }
}
