import Crypto
import Foundation
import Postgres
import Storage
import Support
import TestSupport
import Testing

@testable import Service

/// `GET /chats` and `GET /chats/{id}` are written straight into bytes now; these tests build the
/// same answers the way the handlers did before (a `JSON` tree, serialized) and compare bytes.
@Suite struct ChatReadsTests {
    static let key = "chat-reads-test-key-0123456789abcdef"
    static let previousKey = "chat-reads-previous-key-0123456789abcdef"

    static let hostile: [String] = [
        "", "plain words", "quote \" backslash \\ slash /", "<script>alert(1)</script> & <b>",
        "\u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f}\u{7f}", "line\u{2028}para\u{2029}", "é ü 中文 한국어",
        "emoji 😀 👩‍👩‍👧‍👦 🇫🇷", "\\ud800 and \\udc00 written out", #"{"json":"inside"}"#,
        "\u{fffd}\u{feff}\u{10ffff}",
        String(repeating: "long ", count: 3000)
    ]

    func transcripts(encrypted: Bool, previous: [String] = []) throws -> Transcripts {
        var env = ["CONFIG_ENCRYPTION_KEY": Self.key]
        if encrypted { env["ENABLE_LOCAL_ENCRYPTION"] = "true" }
        return Transcripts(config: try Config.load(environment: env), keyring: Keyring(current: Self.key, previous: previous))
    }

    /// The handlers' former answers.
    func treeList(_ t: Transcripts, _ repo: ChatRepository, userID: Int64) throws -> [UInt8] {
        Array(JSON.object(["chats": .array(try repo.list(userID: userID).map(t.chatJSON))]).serialized().utf8)
    }

    func treeHistory(_ t: Transcripts, _ repo: ChatRepository, chat: ChatRow) throws -> [UInt8] {
        guard case .object(var body) = t.chatJSON(chat) else { return [] }
        body["messages"] = .array(try repo.messages(chatID: chat.id).map(t.messageJSON))
        return Array(JSON.object(body).serialized().utf8)
    }

    /// The engine of this run (CT_TEST_ENGINE): the PostgreSQL pass reads rows from binary results.
    func database(_ engine: TestEngine = .current) throws -> (Database, Int64) {
        let db =
            engine == .postgresql
            ? try Database(.postgresql(try PostgresURL.parse(try TestPostgres.freshDatabaseURL(prefix: "ct_reads")).get()))
            : try Database(path: NSTemporaryDirectory() + "ct-reads-\(UUID().uuidString).db")
        try Migrations.apply(db)
        return (db, try UserRepository(db).create(email: "r@example.com", passwordHash: "h", role: .user).id)
    }

    func compare(_ t: Transcripts, _ db: Database, userID: Int64) throws {
        let repo = ChatRepository(db)
        let list = try t.listBody(repo, userID: userID)
        #expect(list == (try treeList(t, repo, userID: userID)))
        #expect((try? JSON.parse(list)) != nil)
        for chat in try repo.list(userID: userID) {
            let history = try t.historyBody(repo, chat: chat)
            #expect(history == (try treeHistory(t, repo, chat: chat)), "chat \(chat.id)")
        }
    }

    /// PostgreSQL's text cannot hold U+0000 (refused with 400, TextBindingTests): the PostgreSQL
    /// pass reads the same texts without it.
    static func storable(_ texts: [String]) -> [String] {
        TestEngine.current == .postgresql ? texts.map { $0.replacingOccurrences(of: "\u{0}", with: "") } : texts
    }

    @Test(arguments: [false, true])
    func hostileTextReadsByteForByteAsBefore(encrypted: Bool) throws {
        let t = try transcripts(encrypted: encrypted)
        let (db, userID) = try database()
        let repo = ChatRepository(db)
        let hostile = Self.storable(Self.hostile)
        for (i, text) in hostile.enumerated() {
            let chatID = try repo.create(userID: userID, model: i % 2 == 0 ? nil : "model \"\(i)\" <x>")
            let chat = try #require(try repo.find(id: chatID, userID: userID))
            try t.setTitle(repo, chat: chat, title: text)
            let statuses = ["complete", "incomplete", "stopped", "interrupted", "streaming"]
            for (j, body) in hostile.enumerated() {
                _ = try t.addMessage(
                    repo, chat: chat, role: j % 2 == 0 ? "user" : "assistant", content: body + text.prefix(20),
                    model: j % 3 == 0 ? nil : "m\(j)", status: statuses[j % statuses.count])
            }
        }
        try compare(t, db, userID: userID)
    }

    /// SQLite's own forms (blobs and invalid UTF-8 in a text column): SQLite in every pass.
    @Test func unusualRowsReadByteForByteAsBefore() throws {
        let t = try transcripts(encrypted: true, previous: [Self.previousKey])
        let old = Keyring(current: Self.previousKey, previous: [])
        let (db, userID) = try database(.sqlite)
        let repo = ChatRepository(db)
        let chatID = try repo.create(userID: userID, model: "m")
        let chat = try #require(try repo.find(id: chatID, userID: userID))
        try t.setTitle(repo, chat: chat, title: "sealed title")
        func add(_ text: String) throws -> Int64 {
            try repo.addMessage(chatID: chatID, role: "user", content: text, encrypted: false, model: nil, status: "complete")
        }
        // Old form: a base64 text envelope.
        let textForm = try add("")
        try db.run(
            "UPDATE messages SET content = ?, content_encrypted = 1 WHERE id = ?",
            [.text(try t.keyring.seal("old form", purpose: .transcript, place: "message/\(textForm)/content")), .integer(textForm)])
        // Sealed under the previous key (blob form).
        let previous = try add("")
        try repo.rewriteMessage(
            id: previous,
            content: try old.seal(
                "previous key", purpose: .transcript,
                place: "message/\(previous)/content"), encrypted: true)
        // Sealed for another row: it must not open here.
        let moved = try add("")
        try repo.rewriteMessage(
            id: moved, content: try t.keyring.seal("moved", purpose: .transcript, place: "message/1/content"),
            encrypted: true)
        // Flagged but not an envelope, a corrupt blob, and a sealed value that is not UTF-8.
        let garbage = try add("")
        try db.run("UPDATE messages SET content = 'garbage', content_encrypted = 1 WHERE id = ?", [.integer(garbage)])
        let corrupt = try add("")
        try db.run("UPDATE messages SET content = ?, content_encrypted = 1 WHERE id = ?", [.blob([1, 2, 3]), .integer(corrupt)])
        let binary = try add("")
        try repo.rewriteMessage(
            id: binary,
            content: try t.keyring.seal(
                [0x61, 0xFF, 0xFE], purpose: .transcript,
                place: "message/\(binary)/content"), encrypted: true)
        // Plaintext rows that are not valid UTF-8 in SQLite, a NULL model and a NULL-free odd status.
        let invalid = try add("")
        try db.run(
            "UPDATE messages SET content = CAST(? AS TEXT) WHERE id = ?", [.blob([0x61, 0xED, 0xA0, 0x80, 0xC0, 0x22]), .integer(invalid)])
        // A chat whose sealed title does not open.
        let otherID = try repo.create(userID: userID, model: nil)
        try repo.rewriteTitle(id: otherID, title: try t.keyring.seal("x", purpose: .transcript, place: "chat/999/title"), encrypted: true)
        try compare(t, db, userID: userID)
        let history = try t.historyBody(repo, chat: chat)
        let messages = try #require(try JSON.parse(history)["messages"]?.arrayValue)
        #expect(
            messages.map { $0["error"]?.stringValue ?? $0["content"]?.stringValue ?? "" }
                == [
                    "old form", "previous key", "undecryptable", "undecryptable", "undecryptable", "undecryptable",
                    "a\u{fffd}\u{fffd}\u{fffd}\u{fffd}\""
                ])
    }

    @Test func randomTextsReadByteForByteAsBefore() throws {
        var g = SeededGenerator(state: 1414)
        let pieces = Self.storable([
            "\"", "\\", "<", ">", "&", "\u{0}", "\u{1f}", "\n", "\u{2028}", "\u{2029}", "😀", "é", "a", " ", "/", "\u{7f}"
        ])
        for encrypted in [false, true] {
            let t = try transcripts(encrypted: encrypted)
            let (db, userID) = try database()
            let repo = ChatRepository(db)
            for _ in 0..<20 {
                let chat = try #require(try repo.find(id: try repo.create(userID: userID, model: nil), userID: userID))
                try t.setTitle(repo, chat: chat, title: (0..<g.int(0...8)).map { _ in g.pick(pieces) }.joined())
                for _ in 0..<g.int(0...10) {
                    _ = try t.addMessage(
                        repo, chat: chat, role: "user", content: (0..<g.int(0...30)).map { _ in g.pick(pieces) }.joined(),
                        model: nil, status: "complete")
                }
            }
            try compare(t, db, userID: userID)
        }
    }
}
