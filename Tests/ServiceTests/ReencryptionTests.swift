import Storage
import Support
import Testing

@testable import Service

/// Key rotation without HTTP: everything moves to the current key, and nothing is lost.
@Suite struct ReencryptionTests {
    @Test func rotationRewritesSecretsAndTranscriptsUnderTheNewKey() throws {
        let old = try DomainFixture(key: DomainFixture.key, encryptTranscripts: true)
        _ = try ConfigTransfer.importDocument(old.scope, ["connections": [ConfigTransferTests.connection]], dryRun: false)
        let chat = try ChatRepository(old.db).create(userID: old.admin.id, model: nil)
        let row = try #require(try ChatRepository(old.db).find(id: chat, userID: old.admin.id))
        let t = old.scope.transcripts
        let message = try old.db.transaction {
            try t.addMessage(
                ChatRepository(old.db), chat: row, role: "user", content: "rotate me, words 5150", model: nil, status: "complete")
        }

        let rotated = try DomainFixture(
            key: DomainFixture.otherKey, previous: [DomainFixture.key], encryptTranscripts: true,
            reuse: old.directory)
        let report = try Reencryption.run(db: rotated.db, config: rotated.config) { _ in }
        #expect(report.failed.isEmpty && report.rewritten >= 2, "\(report)")

        // Readable with the new key alone: the old one can be retired.
        let fresh = try DomainFixture(key: DomainFixture.otherKey, encryptTranscripts: true, reuse: old.directory)
        let record = try #require(try ConnectionRepository(fresh.db).find(name: "main"))
        #expect(ConnectionRules.key(of: record, vault: fresh.shared.vault) == "sk-transfer-secret-31337")
        let stored = try #require(try ChatRepository(fresh.db).message(id: message))
        #expect(fresh.scope.transcripts.content(stored) == "rotate me, words 5150")
        #expect(try !fresh.databaseBytes().contains("words 5150"))
    }

    @Test func aValueNoKeyOpensIsReportedAndLeftExactlyAsItWas() throws {
        let first = try DomainFixture(key: DomainFixture.key)
        _ = try ConfigTransfer.importDocument(first.scope, ["connections": [ConfigTransferTests.connection]], dryRun: false)
        let before = try #require(try ConnectionRepository(first.db).find(name: "main")?.apiKeyCiphertext)
        // The operator lost the old key: the new one alone cannot open the value.
        let lost = try DomainFixture(key: DomainFixture.otherKey, reuse: first.directory)
        let report = try Reencryption.run(db: lost.db, config: lost.config) { _ in }
        #expect(report.failed.count == 1)
        #expect(try ConnectionRepository(lost.db).find(name: "main")?.apiKeyCiphertext == before)
    }
}
