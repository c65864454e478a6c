import Foundation
import Storage
import TestSupport
import Testing

/// Every repository on both engines, in every run: the same calls give the same answers on
/// SQLite and on PostgreSQL (search, cascades, the audit table's guard, bytes, upserts).
@Suite struct RepositoryTests {
    func migrated(_ engine: TestEngine) throws -> (Database, User, User) {
        let db = try freshDatabase(engine, "repo")
        try Migrations.apply(db)
        let users = UserRepository(db)
        return (
            db, try users.create(email: "a@example.com", passwordHash: "h", role: .user),
            try users.create(email: "b@example.com", passwordHash: "h", role: .user)
        )
    }

    /// SQLite's FTS5 (unicode61) and PostgreSQL's full-text search (`simple`) find the same rows
    /// for the service's queries: every term required, any case, punctuation as separators,
    /// query syntax as plain text, only the owner's rows, nothing of a deleted chat.
    @Test(arguments: TestEngine.available) func searchFindsTheSameRowsOnBothEngines(engine: TestEngine) throws {
        let (db, a, b) = try migrated(engine)
        let repo = ChatRepository(db)
        var ids: [String: (chat: Int64, message: Int64)] = [:]
        func add(_ user: User, _ name: String, _ title: String, _ bodies: [String]) throws {
            let chat = try repo.create(userID: user.id, model: nil)
            try repo.setTitle(chatID: chat, title: title, encrypted: false)
            try repo.index(body: title, chatID: chat, userID: user.id, messageID: 0)
            for (i, body) in bodies.enumerated() {
                let id = try repo.addMessage(chatID: chat, role: "user", content: body, encrypted: false, model: nil, status: "complete")
                try repo.index(body: body, chatID: chat, userID: user.id, messageID: id)
                ids["\(name).\(i)"] = (chat, id)
            }
            ids[name] = (chat, 0)
        }
        try add(a, "zoo", "Trip to the zoo", ["the zebra crossing is blue", "Zebras, giraffes; and a WALRUS!"])
        try add(a, "sea", "Ocean notes", ["blue whales sing", "searchable walrus 8675309"])
        try add(a, "web", "Links", ["mail bob@example.com about version 1.2.3", "an e-mail, snake_case and C++", "café crème"])
        try add(b, "other", "zebra of another user", ["blue zebra walrus"])
        func hits(_ terms: [String], _ user: User = a) throws -> Set<String> {
            let found = try repo.search(userID: user.id, terms: terms).map { "\($0.chatID)/\($0.messageID)" }
            return Set(ids.filter { found.contains("\($0.value.chat)/\($0.value.message)") }.keys)
        }
        #expect(try hits(["zebra"]) == ["zoo.0"])
        #expect(try hits(["ZEBRA", "Blue"]) == ["zoo.0"])
        #expect(try hits(["walrus"]) == ["zoo.1", "sea.1"])
        #expect(try hits(["blue"]) == ["zoo.0", "sea.0"])
        #expect(try hits(["zoo"]) == ["zoo"], "titles are found too (message 0)")
        #expect(try hits(["8675309"]) == ["sea.1"])
        #expect(try hits(["giraffes;"]) == ["zoo.1"])
        #expect(try hits(["\"unbalanced", "OR", "*"]).isEmpty, "operators are words, and these are in no row")
        #expect(try hits(["blue", "absent"]).isEmpty, "every term is required")
        // Words are runs of letters and digits on both (PostgreSQL's parser alone keeps emails, hosts
        // and versions whole); a term with punctuation is a phrase of its words.
        #expect(try hits(["example.com"]) == ["web.0"] && hits(["bob"]) == ["web.0"] && hits(["1.2"]) == ["web.0"])
        #expect(try hits(["e-mail"]) == ["web.1"] && hits(["mail-e"]).isEmpty && hits(["case", "c++"]) == ["web.1"])
        #expect(try hits(["walrus", "*"]) == ["zoo.1", "sea.1"], "a term without a word is skipped")
        #expect(try hits(["crème"]) == ["web.2"] && hits(["café", "crème"]) == ["web.2"], "letters beyond ASCII, in any locale")
        #expect(try hits(["*"]).isEmpty)
        #expect(try hits(["zebra"], b) == ["other", "other.0"])
        let zoo = try #require(ids["zoo"]?.chat)
        #expect(try repo.delete(id: zoo, userID: a.id))
        #expect(try hits(["walrus"]) == ["sea.1"], "a deleted chat's rows leave the index")
        #expect(try repo.indexRowCount() == 9)
        try repo.destroyIndex()
        #expect(try repo.indexRowCount() == 0 && hits(["walrus"]).isEmpty)
    }

    @Test(arguments: TestEngine.available) func chatsAndMessagesKeepTheirFieldsAndGoWithTheirOwner(engine: TestEngine) throws {
        let (db, a, b) = try migrated(engine)
        let repo = ChatRepository(db)
        let chat = try repo.create(userID: a.id, model: "m \"1\"")
        let text = "é 中文 😀 \"quoted\" \\ and a very long line " + String(repeating: "x", count: 100_000)
        let id = try repo.addMessage(chatID: chat, role: "assistant", content: text, encrypted: false, model: nil, status: "streaming")
        #expect(try repo.message(id: id)?.content == text)
        #expect(try repo.find(id: chat, userID: b.id) == nil && repo.addPartial(chatID: chat, userID: b.id, model: nil) == nil)
        #expect(try repo.markInterrupted() == 1 && repo.message(id: id)?.status == "interrupted")
        #expect(try repo.counts() == (chats: 1, messages: 1))
        #expect(try repo.untouched(before: Int64.max, limit: 10).map(\.id) == [chat])
        try db.transaction { _ = try UserRepository(db).delete(id: a.id) }
        #expect(try repo.counts() == (chats: 0, messages: 0), "a user's deletion takes their chats and messages")
    }

    @Test(arguments: TestEngine.available) func filesKeepEveryByteForTheirOwnerOnly(engine: TestEngine) throws {
        let (db, a, b) = try migrated(engine)
        let files = FileRepository(db)
        let bytes = (0...255).map(UInt8.init) + [0, 0, 255]
        let id = try files.insert(
            userID: a.id, sourceURL: "https://x/f", contentType: "application/octet-stream", sha256: "s", content: bytes)
        #expect(try files.content(id: id, userID: a.id) == bytes)
        #expect(try files.find(id: id, userID: a.id)?.size == Int64(bytes.count))
        #expect(try files.content(id: id, userID: b.id) == nil && files.find(id: id, userID: b.id) == nil)
    }

    @Test(arguments: TestEngine.available) func settingsValvesConnectionsAndKeysUpsert(engine: TestEngine) throws {
        let (db, _, _) = try migrated(engine)
        let settings = RuntimeSettingsRepository(db)
        let before = try settings.version()
        #expect(try db.transaction { try settings.set(["a": "1", "b": "2"]) } == before + 1)
        #expect(try db.transaction { try settings.set(["a": "3"]) } == before + 2)
        #expect(try settings.all() == ["a": "3", "b": "2"])

        let valves = PipeValveRepository(db)
        try valves.apply(pipeID: "p", writes: ["X": "1", "Y": "2"], clears: [])
        try valves.apply(pipeID: "p", writes: ["X": "9"], clears: ["Y"])
        #expect(try valves.all(pipeID: "p") == ["X": "9"])

        let connections = ConnectionRepository(db)
        let id = try connections.insert(
            ConnectionRecord(name: "c", kind: "openai", baseURL: "https://x/v1", apiVersion: nil, enabled: true, apiKeyCiphertext: nil))
        try connections.setCiphertext(id: id, "ct1.a")
        #expect(throws: StorageError.self) {
            _ = try connections.insert(
                ConnectionRecord(name: "c", kind: "openai", baseURL: "https://y/v1", apiVersion: nil, enabled: false, apiKeyCiphertext: nil)
            )
        }
        try connections.replaceCiphertext(id: id, expected: "ct1.other", with: "ct1.b")
        #expect(try connections.find(name: "c")?.apiKeyCiphertext == "ct1.a", "only the expected ciphertext is replaced")
        try connections.replaceCiphertext(id: id, expected: "ct1.a", with: "ct1.b")
        #expect(try connections.find(id: id)?.apiKeyCiphertext == "ct1.b" && connections.find(id: id)?.enabled == true)

        let keys = ServiceKeyRepository(db)
        let first = try keys.key("k") { Array(repeating: 1, count: 32) }
        #expect(try keys.key("k") { Array(repeating: 2, count: 32) } == first)
    }

    /// The audit table refuses updates, and deletions of events the checkpoint does not cover:
    /// SQLite's two triggers, PostgreSQL's one trigger function.
    @Test(arguments: TestEngine.available) func theAuditTableIsAppendOnlyBehindItsCheckpoint(engine: TestEngine) throws {
        let (db, _, _) = try migrated(engine)
        let audit = AuditRepository(db)
        for n in 1...5 {
            let id = try audit.nextID()
            #expect(id == Int64(n))
            try audit.insert(
                AuditRow(
                    id: id, ts: Int64(n), actorType: "system", actorUserID: nil, actorEmail: "Admin@Example.com", client: nil,
                    requestID: nil, action: "config.update", targetType: nil, targetID: nil, targetName: nil, outcome: "ok",
                    details: "{}", prevID: id - 1, keyID: "k", mac: "mac\(n)"))
        }
        #expect(throws: StorageError.self) { try db.run("UPDATE audit_events SET details = 'x' WHERE id = 2") }
        #expect(throws: StorageError.self) { try db.run("DELETE FROM audit_events WHERE id = 2") }
        #expect(try db.transaction { try audit.prune(olderThan: 3) } == 2)
        let checkpoint = try #require(try audit.checkpoint())
        #expect(checkpoint.beforeID == 2 && checkpoint.beforeMAC == "mac2" && checkpoint.pruned == 2)
        #expect(try audit.count() == 3 && audit.nextID() == 6)
        #expect(throws: StorageError.self) { try db.run("DELETE FROM audit_events WHERE id = 3") }
        #expect(try audit.events(AuditQuery(actorEmail: "admin@EXAMPLE.com")).count == 3, "the actor filter ignores case")
    }
}
