import Crypto
import Storage
import Support
import Synchronization

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

/// How a turn's artifacts are sealed. `artifactKey` is the pipe's ARTIFACT_ENCRYPTION_KEY; without
/// it, `fallbackKey` (a subkey of CONFIG_ENCRYPTION_KEY) seals everything while local encryption
/// is on, and opens what it sealed after local encryption is turned off again.
public struct ArtifactSealing: Sendable {
    public var artifactKey: String?
    public var fallbackKey: String?
    public var localEncryption: Bool
    public var encryptAll: Bool
    public var compress: Bool
    public var minCompressBytes: Int
    public init(
        artifactKey: String?, fallbackKey: String?, localEncryption: Bool, encryptAll: Bool, compress: Bool,
        minCompressBytes: Int
    ) {
        self.artifactKey = artifactKey
        self.fallbackKey = fallbackKey
        self.localEncryption = localEncryption
        self.encryptAll = encryptAll
        self.compress = compress
        self.minCompressBytes = minCompressBytes
    }
}

public struct StoredArtifact: Sendable {
    public let type: String
    public let stored: String
    public let encrypted: Bool
    public init(type: String, stored: String, encrypted: Bool) {
        self.type = type
        self.stored = stored
        self.encrypted = encrypted
    }
}

/// The per-pipe artifact table `response_items_{fragment}_{hash8}`. SQLite is the truth; the
/// caller may cache rows (as stored, so encrypted ones stay encrypted) in Redis. Every row
/// belongs to one user's chat (a foreign key: deleting the chat deletes its artifacts), and a
/// replay reads only rows of the asking user's chat.
public struct ArtifactStore {
    let db: Database
    public let table: String
    let sealKeyring: Keyring?
    let openKeyring: Keyring
    let sealing: ArtifactSealing

    static let schema = """
        id TEXT PRIMARY KEY, chat_id INTEGER NOT NULL REFERENCES chats(id) ON DELETE CASCADE, user_id INTEGER NOT NULL,
        message_id TEXT NOT NULL, model_id TEXT, item_type TEXT NOT NULL, payload TEXT NOT NULL,
        is_encrypted INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL
        """

    public init(db: Database, pipeID: String = Valves.pipeID, sealing: ArtifactSealing) throws {
        self.db = db
        self.sealing = sealing
        self.table = Self.tableName(pipeID: pipeID, artifactKey: sealing.artifactKey)
        let sealKey = sealing.artifactKey ?? (sealing.localEncryption ? sealing.fallbackKey : nil)
        self.sealKeyring = sealKey.map { Keyring(current: $0, previous: []) }
        self.openKeyring = Keyring(current: sealKey, previous: [sealing.fallbackKey].compactMap { $0 }.filter { $0 != sealKey })
        // Once per process and table: a turn makes its store up to three times.
        let prepared = "\(db.path)|\(table)"
        if !Self.prepared.withLock({ $0.contains(prepared) }) {
            try Self.prepare(db: db, table: table)
            Self.prepared.withLock { _ = $0.insert(prepared) }
        }
    }

    /// Creates the table, or moves a table of the earlier layout (chat id as text, no owner) into
    /// the new one. Rows whose chat no longer exists are not carried over.
    static let prepared = Mutex<Set<String>>([])

    /// The table's columns for this engine: PostgreSQL's integers are BIGINT, as everywhere.
    static func schema(for db: Database) -> String {
        db.engine == .postgresql ? schema.replacingOccurrences(of: "INTEGER", with: "BIGINT") : schema
    }

    /// Makes the artifact table `table` on `db` when the name is one (`copy-db` meets these tables in
    /// a SQLite store, where a pipe made them on demand); false for any other name.
    public static func createTable(named table: String, in db: Database) throws -> Bool {
        let allowed = table.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F }
        guard table.hasPrefix("response_items_"), allowed, table.utf8.count <= 63 else { return false }
        try prepare(db: db, table: table)
        return true
    }

    static func prepare(db: Database, table: String) throws {
        func columnNames(_ name: String) throws -> [String] {
            let sql =
                db.engine == .postgresql
                ? "SELECT column_name::text AS name FROM information_schema.columns "
                    + "WHERE table_schema = current_schema() AND table_name = ?"
                : "SELECT name FROM pragma_table_info(?)"
            return try db.query(sql, [.text(name)]).compactMap { $0.text("name") }
        }
        let needsMove = { () throws -> String? in
            let current = try columnNames(table)
            return !current.isEmpty && !current.contains("user_id") ? table : nil
        }
        if try needsMove() != nil {
            try db.transaction {
                guard let source = try needsMove() else { return }
                let old = source + "_v1"
                try db.execute("ALTER TABLE \(source) RENAME TO \(old)")
                try db.execute("CREATE TABLE \(table) (\(schema(for: db)))")
                try db.execute(
                    """
                    INSERT INTO \(table) (id, chat_id, user_id, message_id, model_id, item_type, payload, is_encrypted, created_at)
                    SELECT a.id, c.id, c.user_id, a.message_id, a.model_id, a.item_type, a.payload, a.is_encrypted, a.created_at
                    FROM \(old) a JOIN chats c ON c.id = CAST(a.chat_id AS INTEGER)
                    """)
                try db.execute("DROP TABLE \(old)")
            }
        }
        let create = """
            CREATE TABLE IF NOT EXISTS \(table) (\(schema(for: db)));
            CREATE INDEX IF NOT EXISTS \(table)_chat ON \(table)(chat_id);
            CREATE INDEX IF NOT EXISTS \(table)_message ON \(table)(message_id);
            """
        do {
            try db.execute(create)
        } catch let failure as StorageError {
            // PostgreSQL's IF NOT EXISTS is not atomic: of two responders (or threads) making the
            // table at once, one fails on the catalogue's unique index. The table is there then.
            guard db.engine == .postgresql, !db.inTransaction, try !columnNames(table).isEmpty else { throw failure }
            try db.execute(create)
        }
    }

    public static func fragment(_ pipeID: String) -> String {
        var f = String(pipeID.lowercased().map { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "_" ? $0 : "_" })
        while f.hasPrefix("_") { f.removeFirst() }
        while f.hasSuffix("_") { f.removeLast() }
        return f.isEmpty ? "pipe" : String(f.prefix(62))
    }

    /// hash8 = the first 8 hex of SHA-256(artifact key + pipe id), as SPEC section 7 and the
    /// reference pipe name it. The name is seen only by whoever holds the database file, and the
    /// file's sealed rows are already a check for a guessed key: the name adds none.
    public static func tableName(pipeID: String, artifactKey: String?) -> String {
        let hash = Encoding.hex(Digest.sha256((artifactKey ?? "") + pipeID)).prefix(8)
        return "response_items_\(fragment(pipeID))_\(hash)"
    }

    /// Local encryption seals every artifact; otherwise ENCRYPT_ALL decides (reasoning always).
    func shouldEncrypt(_ type: String) -> Bool {
        guard sealKeyring != nil else { return false }
        return sealing.localEncryption || sealing.encryptAll || type == "reasoning"
    }

    /// The stored form of one payload: plain JSON, or `{"ciphertext": …, "enc_v": 1}`.
    public func seal(_ payload: JSON, id: String, type: String) throws -> (String, Bool) {
        let json = Array(payload.serialized().utf8)
        guard shouldEncrypt(type), let sealKeyring else { return (payload.serialized(), false) }
        let framed = PayloadFraming.frame(json, compress: sealing.compress, minBytes: sealing.minCompressBytes)
        let envelope = try sealKeyring.seal(framed, purpose: .artifact, place: "artifact/\(id)")
        return (JSON.object(["ciphertext": .string(envelope), "enc_v": 1]).serialized(), true)
    }

    /// The payload, or nil when unreadable; `budget` is what is left of the turn's replay cap and
    /// shrinks by the decompressed size.
    public func open(_ stored: String, id: String, encrypted: Bool, budget: inout Int) -> JSON? {
        guard stored.utf8.count <= budget, let parsed = try? JSON.parse(stored) else { return nil }
        guard encrypted else { budget -= stored.utf8.count; return parsed }
        guard let envelope = parsed["ciphertext"]?.stringValue,
            let framed = try? openKeyring.open(envelope, purpose: .artifact, place: "artifact/\(id)"),
            let json = PayloadFraming.unframe(framed, maxBytes: budget)
        else { return nil }
        budget -= json.count
        return try? JSON.parse(json)
    }

    /// Inserts a turn's artifacts only while the chat exists and belongs to `userID` (checked in
    /// the same transaction): an artifact never lands in a chat that was deleted meanwhile.
    public func insert(
        _ items: [ArtifactItem], chatID: Int64, userID: Int64, messageID: String,
        model: String
    ) throws -> [(id: String, stored: String, encrypted: Bool)] {
        var written: [(String, String, Bool)] = []
        try db.transaction(.rows) {
            guard try ChatRepository(db).exists(id: chatID, userID: userID) else { return }
            for item in items {
                let (stored, encrypted) = try seal(item.payload, id: item.id, type: item.type)
                try db.run(
                    """
                    INSERT INTO \(table) (id, chat_id, user_id, message_id, model_id, item_type, payload, is_encrypted, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .text(item.id), .integer(chatID), .integer(userID), .text(messageID), .text(model), .text(item.type),
                        .text(stored), SQLValue(encrypted), .integer(Clock.now())
                    ])
                written.append((item.id, stored, encrypted))
            }
        }
        return written
    }

    /// Rows by id of this user's chat; a read refreshes `created_at` so retention counts from last use.
    public func load(ids: [String], chatID: Int64, userID: Int64) throws -> [String: StoredArtifact] {
        var out: [String: StoredArtifact] = [:]
        for id in ids {
            if let row = try db.queryOne(
                "SELECT item_type, payload, is_encrypted FROM \(table) WHERE id = ? AND chat_id = "
                    + "? AND user_id = ?",
                [.text(id), .integer(chatID), .integer(userID)]),
                let type = row.text("item_type"), let payload = row.text("payload")
            {
                out[id] = StoredArtifact(type: type, stored: payload, encrypted: row.bool("is_encrypted"))
                try db.run("UPDATE \(table) SET created_at = ? WHERE id = ?", [.integer(Clock.now()), .text(id)])
            }
        }
        return out
    }

    /// Deletes rows unused for `days` from every artifact table of this pipe; returns the count.
    public static func cleanup(db: Database, pipeID: String = Valves.pipeID, days: Int) throws -> Int {
        let prefix = "response_items_\(fragment(pipeID))_"
        let sql =
            db.engine == .postgresql
            ? "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE ?"
            : "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE ?"
        let tables = try db.query(sql, [.text(prefix + "%")]).compactMap { $0.text("name") }
        var removed = 0
        let cutoff = Clock.now() - Int64(days) * 86400
        // LIKE's `_` matches any character (and SQLite's LIKE ignores case): the prefix is checked exactly here.
        for table in tables where table.hasPrefix(prefix) && table.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
            removed += try db.run("DELETE FROM \(table) WHERE created_at < ?", [.integer(cutoff)])
        }
        return removed
    }
}
