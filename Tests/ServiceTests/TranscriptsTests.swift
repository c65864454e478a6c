import Storage
import Support
import Testing

@testable import Service

/// Transcripts at rest without HTTP: sealed to their rows in encrypted mode, indexed in plaintext mode.
@Suite struct TranscriptsTests {
    func chatWithMessage(_ f: DomainFixture, _ text: String) throws -> (ChatRow, Int64) {
        let repo = ChatRepository(f.db)
        let row = try #require(try repo.find(id: try repo.create(userID: f.admin.id, model: nil), userID: f.admin.id))
        let t = f.scope.transcripts
        let id = try f.db.transaction {
            try t.setTitle(repo, chat: row, title: "title \(text)")
            return try t.addMessage(repo, chat: row, role: "user", content: text, model: nil, status: "complete")
        }
        return (row, id)
    }

    @Test func encryptedMessagesOpenOnlyInTheirOwnRow() throws {
        let f = try DomainFixture(encryptTranscripts: true)
        let (chat, first) = try chatWithMessage(f, "first secret sentence 8675309")
        let (_, second) = try chatWithMessage(f, "second sentence")
        let repo = ChatRepository(f.db)
        let t = f.scope.transcripts
        #expect(t.content(try #require(try repo.message(id: first))) == "first secret sentence 8675309")
        #expect(try !f.databaseBytes().contains("8675309"), "no plaintext in the database, its WAL or SHM")
        #expect(try repo.indexRowCount() == 0, "no search index in encrypted mode")
        // A sealed body copied into another row does not open there.
        let sealed = try #require(try repo.message(id: first)).content
        try repo.rewriteMessage(id: second, content: sealed, encrypted: true)
        #expect(t.content(try #require(try repo.message(id: second))) == nil)
        #expect(t.title(try #require(try repo.find(id: chat.id, userID: f.admin.id))) == "title first secret sentence 8675309")
    }

    @Test func plaintextMessagesAreIndexedForTheirOwnerOnly() throws {
        let f = try DomainFixture(encryptTranscripts: false)
        let (chat, message) = try chatWithMessage(f, "searchable walrus")
        let hits = try ChatRepository(f.db).search(userID: f.admin.id, terms: ["walrus"])
        #expect(hits.contains { $0.chatID == chat.id && $0.messageID == message })
        #expect(try ChatRepository(f.db).search(userID: f.admin.id + 1, terms: ["walrus"]).isEmpty)
    }
}
