import Crypto
import Storage
import Support

/// `cryotensor reencrypt`: rewrites every stored secret under the current key. Values made with a
/// previous key (CONFIG_ENCRYPTION_KEY_PREVIOUS) are opened and sealed again; a value that cannot
/// be opened is reported and left exactly as it was, so nothing is lost.
public enum Reencryption {
    public struct Report: Sendable {
        public var rewritten = 0
        public var alreadyCurrent = 0
        public var failed: [String] = []
    }

    public static func run(db: Database, config: Config, progress: (String) -> Void) throws -> Report {
        guard let key = config.encryptionKey else { throw HTTPError(400, "encryption_key_required", "reencrypt needs CONFIG_ENCRYPTION_KEY") }
        let keyring = Keyring(current: key.reveal(), previous: config.previousEncryptionKeys.map { $0.reveal() })
        let repo = ConnectionRepository(db)
        var report = Report()
        let connections = try repo.all().filter { $0.apiKeyCiphertext != nil }
        progress("connections: \(connections.count) stored secret(s)")
        for (index, connection) in connections.enumerated() {
            guard let sealed = connection.apiKeyCiphertext else { continue }
            let place = ConnectionRules.place(connection.id)
            if Keyring.keyID(ofEnvelope: sealed) == keyring.currentKeyID {
                report.alreadyCurrent += 1
            } else {
                do {
                    let plaintext = try keyring.open(sealed, purpose: .configSecret, place: place)
                    let fresh = try keyring.seal(plaintext, purpose: .configSecret, place: place)
                    // Only replace the exact value we read, so a concurrent change is never overwritten.
                    try db.run("UPDATE connections SET api_key_ciphertext = ? WHERE id = ? AND api_key_ciphertext = ?",
                               [.text(fresh), .integer(connection.id), .text(sealed)])
                    report.rewritten += 1
                } catch {
                    report.failed.append("connection \(connection.id) (\(connection.name)): \(error)")
                }
            }
            progress("connections: \(index + 1)/\(connections.count)")
        }
        return report
    }
}
