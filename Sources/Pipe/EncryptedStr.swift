import Crypto
import Support

/// EncryptedStr semantics for secret valves: with WEBUI_SECRET_KEY set, stored as `encrypted:` +
/// our AES-256-GCM envelope (bound to the valve's name); without it, stored as given. A value
/// that cannot be decrypted is reported as such and never handed out as if it were the secret
/// (the Python pipe returned the `encrypted:` string itself, which could reach OpenRouter as a key).
public struct EncryptedStr: Sendable {
    public static let prefix = "encrypted:"
    let keyring: Keyring

    public init(webuiSecretKey: String?) {
        keyring = Keyring(current: webuiSecretKey, previous: [])
    }

    public var encrypts: Bool { keyring.hasKey }

    static func place(_ name: String) -> String { "pipe/\(Valves.pipeID)/valve/\(name)" }

    public func encode(_ value: String, name: String) throws -> String {
        guard keyring.hasKey, !value.isEmpty, !value.hasPrefix(Self.prefix) else { return value }
        return Self.prefix + (try keyring.seal(value, purpose: .pipeValve, place: Self.place(name)))
    }

    public enum Decoded: Sendable, Equatable {
        case empty
        case value(String, encrypted: Bool)
        case undecryptable(String)
    }

    public func decode(_ stored: String?, name: String) -> Decoded {
        guard let stored, !stored.isEmpty else { return .empty }
        guard stored.hasPrefix(Self.prefix) else { return .value(stored, encrypted: false) }
        guard keyring.hasKey else { return .undecryptable("WEBUI_SECRET_KEY is not set") }
        do {
            return .value(
                try keyring.openString(String(stored.dropFirst(Self.prefix.count)), purpose: .pipeValve, place: Self.place(name)),
                encrypted: true)
        } catch {
            return .undecryptable(error.description)
        }
    }
}
