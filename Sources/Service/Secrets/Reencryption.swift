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
        let keyring = Keyring(current: config.encryptionKey?.reveal(), previous: config.previousEncryptionKeys.map { $0.reveal() })
        let repo = ConnectionRepository(db)
        var report = Report()
        let connections = keyring.hasKey ? try repo.all().filter { $0.apiKeyCiphertext != nil } : []
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
                    try repo.replaceCiphertext(id: connection.id, expected: sealed, with: fresh)
                    report.rewritten += 1
                } catch {
                    report.failed.append("connection \(connection.id) (\(connection.name)): \(error)")
                }
            }
            progress("connections: \(index + 1)/\(connections.count)")
        }
        try transcripts(db: db, config: config, keyring: keyring, report: &report, progress: progress)
        return report
    }

    /// Moves every title and message to the current mode (encrypted with the current key, or
    /// plaintext), in batches, each batch one transaction. In plaintext mode the search index is
    /// rebuilt; in encrypted mode it is destroyed.
    package static func transcripts(db: Database, config: Config, keyring: Keyring, report: inout Report, progress: (String) -> Void) throws
    {
        let t = Transcripts(config: config, keyring: keyring)
        let repo = ChatRepository(db)
        let totals = try repo.counts()
        func wanted(_ encrypted: Bool, _ stored: String) -> Bool {
            t.encrypt ? (encrypted && Keyring.keyID(ofEnvelope: stored) == keyring.currentKeyID) : !encrypted
        }
        try eachBatch(
            db, fetch: { try repo.allChats(afterID: $0, limit: 500) }, id: \.id,
            done: { progress("chats: \($0)/\(totals.chats)") }
        ) { chat in
            if wanted(chat.titleEncrypted, chat.title) { report.alreadyCurrent += 1; return }
            guard let plain = t.open(chat.title, encrypted: chat.titleEncrypted, place: Transcripts.titlePlace(chat.id)) else {
                report.failed.append("chat \(chat.id) title"); return
            }
            let (stored, encrypted) = try t.seal(plain, place: Transcripts.titlePlace(chat.id))
            try repo.rewriteTitle(id: chat.id, title: stored, encrypted: encrypted)
            report.rewritten += 1
        }
        try eachBatch(
            db, fetch: { try repo.allMessages(afterID: $0, limit: 500) }, id: \.id,
            done: { progress("messages: \($0)/\(totals.messages)") }
        ) { message in
            if wanted(message.contentEncrypted, message.content) { report.alreadyCurrent += 1; return }
            guard let plain = t.content(message) else { report.failed.append("message \(message.id)"); return }
            let (stored, encrypted) = try t.seal(plain, place: Transcripts.messagePlace(message.id))
            try repo.rewriteMessage(id: message.id, content: stored, encrypted: encrypted)
            report.rewritten += 1
        }
        try rebuildIndex(db: db, transcripts: t, progress: progress)
    }

    /// Encrypted mode: no index at all. Plaintext mode: an index of every readable title and body.
    package static func rebuildIndex(db: Database, transcripts t: Transcripts, progress: (String) -> Void) throws {
        let repo = ChatRepository(db)
        try repo.destroyIndex()
        guard !t.encrypt else { progress("search index: removed (encrypted mode)"); return }
        try eachBatch(db, fetch: { try repo.allChats(afterID: $0, limit: 500) }, id: \.id) { chat in
            let title = t.title(chat)
            if !title.isEmpty && !chat.titleEncrypted { try repo.index(body: title, chatID: chat.id, userID: chat.userID, messageID: 0) }
        }
        var owners: [Int64: Int64] = [:]
        try eachBatch(db, fetch: { try repo.allMessages(afterID: $0, limit: 500) }, id: \.id) { message in
            guard !message.contentEncrypted else { return }
            if owners[message.chatID] == nil {
                owners[message.chatID] = try repo.owner(chatID: message.chatID)
            }
            if let owner = owners[message.chatID] {
                try repo.index(body: message.content, chatID: message.chatID, userID: owner, messageID: message.id)
            }
        }
        progress("search index: rebuilt")
    }

    /// Walks rows in id order, 500 at a time, each batch in one transaction, reporting rows done.
    package static func eachBatch<Row>(
        _ db: Database, fetch: (Int64) throws -> [Row], id: (Row) -> Int64,
        done: (Int) -> Void = { _ in }, _ body: (Row) throws -> Void
    ) throws {
        var last: Int64 = 0
        var count = 0
        while true {
            let batch = try fetch(last)
            guard let tail = batch.last else { return }
            try db.transaction { for row in batch { try body(row) } }
            count += batch.count
            last = id(tail)
            done(count)
        }
    }

    /// At start-up in encrypted mode, a leftover plaintext index is removed at once.
    public static func enforceIndexMode(db: Database, config: Config) throws {
        guard config.localEncryption, try ChatRepository(db).indexRowCount() > 0 else { return }
        try ChatRepository(db).destroyIndex()
        Log.event(.info, "search_index_removed", ["reason": "ENABLE_LOCAL_ENCRYPTION is on"])
    }
}
