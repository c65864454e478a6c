import Crypto
import Foundation
import Storage
import Testing

/// A database written before sealed values became BLOBs (schema 6, base64 text envelopes) is
/// converted by migration 7 in batches; every row reads the same before, during and after.
@Suite struct EnvelopeBlobMigrationTests {
    let keyring = Keyring(current: "migration-test-key-0123456789abcdef", previous: ["migration-old-key-0123456789abcdef"])
    let oldKeyring = Keyring(current: "migration-old-key-0123456789abcdef", previous: [])

    struct Expected {
        var titles: [Int64: String?] = [:]  // nil: must read as undecryptable
        var messages: [Int64: String?] = [:]
    }

    /// Schema 6 with old-form rows: text envelopes (current and previous key), plaintext rows,
    /// and a flagged row that is no envelope at all.
    func oldDatabase(chats: Int = 3, messagesPerChat: Int = 40) throws -> (Database, Expected) {
        let db = try Database(path: NSTemporaryDirectory() + "ct-blobs-\(UUID().uuidString).db")
        try Migrations.apply(db, through: 6)
        #expect(try Migrations.currentVersion(db) == 6)
        let user = try UserRepository(db).create(email: "m@example.com", passwordHash: "h", role: .user)
        var expected = Expected()
        for c in 0..<chats {
            let chat = try db.insert(
                "INSERT INTO chats (user_id, title, model, created_at, updated_at) VALUES (?, '', 'm', 1, 1)", [.integer(user.id)])
            let title = "chat \(c) \"quoted\" 😀"
            let sealedTitle = try keyring.seal(title, purpose: .transcript, place: "chat/\(chat)/title")
            try db.run("UPDATE chats SET title = ?, title_encrypted = 1 WHERE id = ?", [.text(sealedTitle), .integer(chat)])
            expected.titles[chat] = title
            for m in 0..<messagesPerChat {
                let id = try db.insert(
                    "INSERT INTO messages (chat_id, role, content, content_encrypted, created_at) VALUES (?, 'user', '', 0, 2)",
                    [.integer(chat)])
                let text = "message \(m) of \(c): <b>&</b> \u{2028} é"
                switch m % 5 {
                case 0:  // plaintext row
                    try db.run("UPDATE messages SET content = ? WHERE id = ?", [.text(text), .integer(id)])
                    expected.messages[id] = text
                case 1:  // sealed under the previous key
                    let sealed = try oldKeyring.seal(text, purpose: .transcript, place: "message/\(id)/content")
                    try db.run("UPDATE messages SET content = ?, content_encrypted = 1 WHERE id = ?", [.text(sealed), .integer(id)])
                    expected.messages[id] = text
                case 2:  // flagged as sealed, but no envelope
                    try db.run("UPDATE messages SET content = 'not an envelope', content_encrypted = 1 WHERE id = ?", [.integer(id)])
                    expected.messages[id] = .some(nil)
                default:
                    let sealed = try keyring.seal(text, purpose: .transcript, place: "message/\(id)/content")
                    try db.run("UPDATE messages SET content = ?, content_encrypted = 1 WHERE id = ?", [.text(sealed), .integer(id)])
                    expected.messages[id] = text
                }
            }
        }
        return (db, expected)
    }

    func open(_ stored: String, encrypted: Bool, place: String) -> String? {
        encrypted ? try? EnvelopeOpener(keyring: keyring, purpose: .transcript).openString(stored, place: place) : stored
    }

    /// Reads every chat and message both ways (rows and views) and checks them against `expected`.
    func checkReads(_ db: Database, _ expected: Expected) throws {
        let repo = ChatRepository(db)
        var seenMessages = 0
        for chat in try repo.allChats(afterID: 0, limit: 1000) {
            let want = expected.titles[chat.id] ?? nil
            #expect(open(chat.title, encrypted: chat.titleEncrypted, place: "chat/\(chat.id)/title") == want)
            for m in try repo.messages(chatID: chat.id) {
                #expect(open(m.content, encrypted: m.contentEncrypted, place: "message/\(m.id)/content") == expected.messages[m.id] ?? "?")
                seenMessages += 1
            }
            var viewed = 0
            try repo.eachMessage(chatID: chat.id) { m in
                #expect(viewText(m.content, place: "message/\(m.id)/content") == expected.messages[m.id] ?? "?")
                viewed += 1
            }
            #expect(viewed == (try repo.messages(chatID: chat.id)).count)
        }
        #expect(seenMessages == expected.messages.count)
    }

    func viewText(_ value: StoredText, place: String) -> String? {
        let blob: [UInt8]
        switch value {
        case .plain(let text): return String(decoding: text, as: UTF8.self)
        case .sealedBlob(let bytes): blob = Array(bytes)
        case .sealedText(let text):
            guard let b = SealedBlob.fromEnvelope(String(decoding: text, as: UTF8.self)) else { return nil }
            blob = b
        }
        var place = place
        return try? place.withUTF8 { p in
            try blob.withUnsafeBytes { b in
                String(
                    decoding: try SealedReader.forThisThread().open(blob: b, keyring: keyring, purpose: .transcript, place: p),
                    as: UTF8.self)
            }
        }
    }

    func textRows(_ db: Database) throws -> Int {
        Int(
            try db.queryOne(
                "SELECT (SELECT COUNT(*) FROM messages WHERE content_encrypted = 1 AND typeof(content) = 'text') + "
                    + "(SELECT COUNT(*) FROM chats WHERE title_encrypted = 1 AND typeof(title) = 'text') AS n")?.int("n") ?? -1)
    }

    @Test func convertsInBatchesAndReadsTheSameAtEveryStep() throws {
        let (db, expected) = try oldDatabase()
        try checkReads(db, expected)
        var steps: [String] = []
        let report = try EnvelopeBlobMigration.run(db, batch: 7) { step in
            steps.append(step)
            // Between batches: some rows converted, some not; everything still reads.
            try? checkReads(db, expected)
        }
        #expect(report.converted == 3 + 3 * 24)  // titles, and 3 of every 5 messages (one form is no envelope)
        #expect(report.leftAsText == 3 * 8)
        #expect(steps.first == "chats: 3/3")
        #expect(steps.contains("messages: 7/96") && steps.last == "messages: 96/96")
        #expect(try textRows(db) == 3 * 8)  // only the rows that are no envelope
        try checkReads(db, expected)
        // Run again: nothing left to convert.
        #expect(try EnvelopeBlobMigration.run(db).converted == 0)
    }

    @Test func migrationSevenRunsFromApplyWithProgressAndIsRecorded() throws {
        let (db, expected) = try oldDatabase(chats: 2, messagesPerChat: 10)
        var names: [String] = []
        #expect(try Migrations.apply(db, through: 7) { names.append("\($0) \($1)") } == [7])
        #expect(names.contains("7 sealed transcripts as blobs: messages: 16/16"))
        #expect(try Migrations.currentVersion(db) == 7)
        try checkReads(db, expected)
        let blobs = try db.queryOne("SELECT COUNT(*) AS n FROM messages WHERE typeof(content) = 'blob'")?.int("n")
        #expect(blobs == 12)  // 16 flagged, 4 of them no envelope
    }

    @Test func newWritesAreBlobsAndReadBackAsEnvelopes() throws {
        let db = try Database(path: NSTemporaryDirectory() + "ct-blobs-\(UUID().uuidString).db")
        try Migrations.apply(db)
        let user = try UserRepository(db).create(email: "n@example.com", passwordHash: "h", role: .user)
        let repo = ChatRepository(db)
        let chat = try repo.create(userID: user.id, model: nil)
        let id = try repo.addMessage(chatID: chat, role: "user", content: "", encrypted: false, model: nil, status: "complete")
        let sealed = try keyring.seal("hello", purpose: .transcript, place: "message/\(id)/content")
        try repo.rewriteMessage(id: id, content: sealed, encrypted: true)
        #expect(try db.queryOne("SELECT typeof(content) AS t FROM messages WHERE id = ?", [.integer(id)])?.text("t") == "blob")
        #expect(try repo.message(id: id)?.content == sealed)  // the same envelope text for code that reads strings
        let size = try db.queryOne("SELECT length(content) AS n FROM messages WHERE id = ?", [.integer(id)])?.int("n") ?? 0
        #expect(Int(size) < sealed.utf8.count * 4 / 5)
    }

    @Test func aCorruptBlobReadsAsUndecryptableNotACrash() throws {
        let db = try Database(path: NSTemporaryDirectory() + "ct-blobs-\(UUID().uuidString).db")
        try Migrations.apply(db)
        let user = try UserRepository(db).create(email: "c@example.com", passwordHash: "h", role: .user)
        let repo = ChatRepository(db)
        let chat = try repo.create(userID: user.id, model: nil)
        for garbage in [[UInt8](), [1], [2, 0, 0, 0, 0] + [UInt8](repeating: 7, count: 40), [1] + [UInt8](repeating: 0, count: 33)] {
            let id = try repo.addMessage(chatID: chat, role: "user", content: "", encrypted: false, model: nil, status: "complete")
            try db.run("UPDATE messages SET content = ?, content_encrypted = 1 WHERE id = ?", [.blob(garbage), .integer(id)])
            let row = try #require(try repo.message(id: id))
            #expect(open(row.content, encrypted: true, place: "message/\(id)/content") == nil)
        }
        var count = 0
        try repo.eachMessage(chatID: chat) { m in
            #expect(viewText(m.content, place: "message/\(m.id)/content") == nil)
            count += 1
        }
        #expect(count == 4)
    }
}
