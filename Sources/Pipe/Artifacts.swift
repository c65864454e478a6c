import Crypto
import Storage
import Support

/// Artifact ids: 20 Crockford base32 characters, 16 of time (nanoseconds, 80 bits) then 4 random.
public enum ArtifactID {
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    public static func make(nanoseconds: UInt64 = UInt64(Clock.nowMillis()) * 1_000_000 &+ UInt64.random(in: 0..<1_000_000)) -> String {
        var out = ""
        // 80 bits of time: the top 16 bits are zero for centuries, then the 64-bit nanosecond count.
        var value = (high: UInt64(0), low: nanoseconds)
        var digits: [Character] = []
        for _ in 0..<16 {
            digits.append(alphabet[Int(value.low & 31)])
            value.low = (value.low >> 5) | ((value.high & 31) << 59)
            value.high >>= 5
        }
        out += String(digits.reversed())
        for byte in Random.bytes(4) { out.append(alphabet[Int(byte) & 31]) }
        return out
    }

    public static func isValid(_ text: some StringProtocol) -> Bool {
        text.count == 20 && text.allSatisfy { alphabet.contains($0) }
    }
}

/// Marker lines `[<id>]: #` that end an assistant message, one per stored artifact.
public enum Markers {
    public static func line(_ id: String) -> String { "[\(id)]: #" }

    /// Splits a stored assistant message into its visible text and the artifact ids it names.
    public static func split(_ content: String) -> (text: String, ids: [String]) {
        var ids: [String] = []
        var kept: [Substring] = []
        for line in content.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("["), line.hasSuffix("]: #"), line.count == 25, ArtifactID.isValid(line.dropFirst().prefix(20)) {
                ids.append(String(line.dropFirst().prefix(20)))
            } else {
                kept.append(line)
            }
        }
        var text = kept.joined(separator: "\n")
        while text.hasSuffix("\n") { text.removeLast() }
        return (text, ids)
    }

    public static func append(_ ids: [String], to text: String) -> String {
        ids.isEmpty ? text : text + "\n\n" + ids.map(line).joined(separator: "\n")
    }
}

public struct ArtifactItem: Sendable {
    public let id: String
    public let type: String
    public let payload: JSON
    public init(id: String, type: String, payload: JSON) {
        self.id = id
        self.type = type
        self.payload = payload
    }
}

/// The per-pipe artifact table `response_items_{fragment}_{hash8}`. SQLite is the truth; the
/// caller may cache rows (as stored, so encrypted ones stay encrypted) in Redis.
public struct ArtifactStore {
    let db: Database
    public let table: String
    let keyring: Keyring?
    let encryptAll: Bool
    let compress: Bool
    let minCompressBytes: Int

    public init(db: Database, pipeID: String = Valves.pipeID, artifactKey: String?, encryptAll: Bool, compress: Bool, minCompressBytes: Int) throws(StorageError) {
        self.db = db
        self.table = Self.tableName(pipeID: pipeID, artifactKey: artifactKey)
        self.keyring = artifactKey.map { Keyring(current: $0, previous: []) }
        self.encryptAll = encryptAll
        self.compress = compress
        self.minCompressBytes = minCompressBytes
        try db.execute("""
            CREATE TABLE IF NOT EXISTS \(table) (
                id TEXT PRIMARY KEY, chat_id TEXT NOT NULL, message_id TEXT NOT NULL, model_id TEXT, item_type TEXT NOT NULL,
                payload TEXT NOT NULL, is_encrypted INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS \(table)_chat ON \(table)(chat_id);
            CREATE INDEX IF NOT EXISTS \(table)_message ON \(table)(message_id);
            """)
    }

    public static func fragment(_ pipeID: String) -> String {
        var f = String(pipeID.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" ? $0 : "_" })
        while f.hasPrefix("_") { f.removeFirst() }
        while f.hasSuffix("_") { f.removeLast() }
        return f.isEmpty ? "pipe" : String(f.prefix(62))
    }

    public static func tableName(pipeID: String, artifactKey: String?) -> String {
        let hash = Encoding.hex(Digest.sha256((artifactKey ?? "") + pipeID)).prefix(8)
        return "response_items_\(fragment(pipeID))_\(hash)"
    }

    func shouldEncrypt(_ type: String) -> Bool { keyring != nil && (encryptAll || type == "reasoning") }

    /// The stored form of one payload: plain JSON, or `{"ciphertext": …, "enc_v": 1}`.
    public func seal(_ payload: JSON, id: String, type: String) throws -> (String, Bool) {
        let json = Array(payload.serialized().utf8)
        guard shouldEncrypt(type), let keyring else { return (payload.serialized(), false) }
        let framed = PayloadFraming.frame(json, compress: compress, minBytes: minCompressBytes)
        let envelope = try keyring.seal(framed, purpose: .artifact, place: "artifact/\(id)")
        return (JSON.object(["ciphertext": .string(envelope), "enc_v": 1]).serialized(), true)
    }

    public func open(_ stored: String, id: String, encrypted: Bool) -> JSON? {
        guard let parsed = try? JSON.parse(stored) else { return nil }
        guard encrypted else { return parsed }
        guard let keyring, let envelope = parsed["ciphertext"]?.stringValue,
              let framed = try? keyring.open(envelope, purpose: .artifact, place: "artifact/\(id)"),
              let json = PayloadFraming.unframe(framed) else { return nil }
        return try? JSON.parse(json)
    }

    public func insert(_ items: [ArtifactItem], chatID: String, messageID: String, model: String) throws -> [(id: String, stored: String, encrypted: Bool)] {
        var written: [(String, String, Bool)] = []
        try db.transaction {
            for item in items {
                let (stored, encrypted) = try seal(item.payload, id: item.id, type: item.type)
                try db.run("INSERT INTO \(table) (id, chat_id, message_id, model_id, item_type, payload, is_encrypted, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           [.text(item.id), .text(chatID), .text(messageID), .text(model), .text(item.type), .text(stored), SQLValue(encrypted), .integer(Clock.now())])
                written.append((item.id, stored, encrypted))
            }
        }
        return written
    }

    /// Rows by id, in the order asked; a read refreshes `created_at` so retention counts from last use.
    public func load(ids: [String], chatID: String) throws -> [String: (type: String, stored: String, encrypted: Bool)] {
        var out: [String: (String, String, Bool)] = [:]
        for id in ids {
            if let row = try db.queryOne("SELECT item_type, payload, is_encrypted FROM \(table) WHERE id = ? AND chat_id = ?", [.text(id), .text(chatID)]),
               let type = row.text("item_type"), let payload = row.text("payload") {
                out[id] = (type, payload, row.bool("is_encrypted"))
                try db.run("UPDATE \(table) SET created_at = ? WHERE id = ?", [.integer(Clock.now()), .text(id)])
            }
        }
        return out
    }

    /// Deletes rows unused for `days` from every artifact table of this pipe; returns the count.
    public static func cleanup(db: Database, pipeID: String = Valves.pipeID, days: Int) throws -> Int {
        let prefix = "response_items_\(fragment(pipeID))_"
        let tables = try db.query("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?", [.text(prefix + "%")]).compactMap { $0.text("name") }
        var removed = 0
        let cutoff = Clock.now() - Int64(days) * 86400
        for table in tables where table.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            removed += try db.run("DELETE FROM \(table) WHERE created_at < ?", [.integer(cutoff)])
        }
        return removed
    }
}
