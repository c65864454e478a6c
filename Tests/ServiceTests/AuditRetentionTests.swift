import Foundation
import Storage
import Support
import Testing

@testable import Service

/// Retention with the clock moved: old events and chats go (from every table and the WAL), newer
/// ones stay, the chain still verifies from the oldest kept event, and the run is recorded.
@Suite struct AuditRetentionTests {
    static let day: Int64 = 86_400

    @Test func cleanupDropsOldEventsAndTheChainStillVerifies() throws {
        let f = try DomainFixture(extra: ["AUDIT_RETENTION_DAYS": "30"])
        let now = Clock.now()
        let keys = AuditKeys(config: f.config)
        for age in [90, 60, 45, 10, 1] as [Int64] {
            try AuditLog.append(
                .init(
                    actor: .system, client: nil, requestID: nil, action: .configUpdate, target: nil, outcome: .ok,
                    details: ["marker": .string("aged-event-\(age)-days")]), db: f.db, keys: keys,
                now: now - age * Self.day)
        }
        let counts = try Retention.run(f.scope, now: now) { _ in }
        #expect(counts.auditEventsPruned == 3)
        let kept = try AuditRepository(f.db).events(AuditQuery(limit: 10, ascending: true))
        #expect(kept.map(\.id) == [4, 5, 6] && kept.last?.action == "retention.cleanup")
        let checkpoint = try #require(try AuditRepository(f.db).checkpoint())
        #expect(checkpoint.beforeID == 3 && checkpoint.pruned == 3)
        let result = try AuditVerifier.verify(db: f.db, keys: keys)
        #expect(result.isWhole && result.firstID == 4, "\(result)")
        let last = try #require(kept.last)
        let recorded = try #require(try JSON.parse(last.details).objectValue)
        #expect(recorded["audit_events_pruned"] == 3 && recorded["chats_deleted"] == 0)
        // Gone from the file and its WAL, not only from queries; the kept ones are still there.
        let bytes = try f.databaseBytes()
        #expect(!bytes.contains("aged-event-90-days") && !bytes.contains("aged-event-45-days") && bytes.contains("aged-event-10-days"))
        #expect(kept.last?.actorType == "token")

        // Events before the checkpoint are still refused to anything but retention.
        #expect(throws: StorageError.self) { try f.db.run("DELETE FROM audit_events WHERE id = 4") }
        // A further deletion of the oldest kept event is caught.
        try f.dropAuditGuard("delete")
        try f.db.run("DELETE FROM audit_events WHERE id = 4")
        #expect(try AuditVerifier.verify(db: f.db, keys: keys).failure?.eventID == 5)
    }

    /// Someone with the database file deletes the oldest events and moves the checkpoint to the
    /// last one they deleted (its mac is in the file): no keyed retention.cleanup vouches for it.
    @Test func aCheckpointMovedOutsideRetentionIsCaught() throws {
        let f = try DomainFixture(extra: ["AUDIT_RETENTION_DAYS": "30"])
        let keys = AuditKeys(config: f.config)
        for n in 1...5 {
            try AuditLog.append(
                .init(
                    actor: .system, client: nil, requestID: nil, action: .configUpdate, target: nil, outcome: .ok,
                    details: ["n": JSON(n)]), db: f.db, keys: keys)
        }
        #expect(try AuditVerifier.verify(db: f.db, keys: keys).isWhole)
        let third = try #require(try AuditRepository(f.db).events(AuditQuery(limit: 10, ascending: true)).first { $0.id == 3 })
        try f.dropAuditGuard("delete")
        try f.db.run("DELETE FROM audit_events WHERE id <= 3")
        try f.db.run(
            "INSERT INTO audit_checkpoint (id, before_id, before_mac, pruned, updated_at) VALUES (1, 3, ?, 3, 0)",
            [.text(third.mac)])
        let forged = try AuditVerifier.verify(db: f.db, keys: keys)
        #expect(forged.failure?.eventID == 3 && forged.failure?.problem == .deleted, "\(forged)")
    }

    @Test func cleanupDeletesOldChatsWithEveryCopyAndKeepsNewOnes() throws {
        let f = try DomainFixture(extra: ["CHAT_RETENTION_DAYS": "30"])
        let repo = ChatRepository(f.db)
        func chat(_ sentence: String) throws -> Int64 {
            let id = try repo.create(userID: f.admin.id, model: nil)
            let row = try #require(try repo.find(id: id, userID: f.admin.id))
            _ = try f.db.transaction {
                try f.scope.transcripts.addMessage(
                    repo, chat: row, role: "user", content: sentence, model: nil,
                    status: "complete")
            }
            return id
        }
        let old = try chat("quinceaureate forgotten sentence")
        let fresh = try chat("marmalade recent sentence")
        try f.db.run("UPDATE chats SET updated_at = ? WHERE id = ?", [.integer(Clock.now() - 31 * Self.day), .integer(old)])
        let counts = try Retention.run(f.scope) { _ in }
        #expect(counts.chatsDeleted == 1)
        #expect(try repo.find(id: old, userID: f.admin.id) == nil && repo.find(id: fresh, userID: f.admin.id) != nil)
        #expect(try repo.messages(chatID: old).isEmpty)
        #expect(try repo.search(userID: f.admin.id, terms: ["quinceaureate"]).isEmpty)
        #expect(try !repo.search(userID: f.admin.id, terms: ["marmalade"]).isEmpty)
        let bytes = try f.databaseBytes()
        #expect(!bytes.contains("quinceaureate") && bytes.contains("marmalade"))

        // The clock moved past the second chat too.
        let later = try Retention.run(f.scope, now: Clock.now() + 31 * Self.day) { _ in }
        let remaining = try repo.counts().chats
        #expect(later.chatsDeleted == 1 && remaining == 0)
    }

    @Test func aUserDeletesAllTheirChatsAtOnce() throws {
        let f = try DomainFixture()
        let repo = ChatRepository(f.db)
        for _ in 0..<3 { _ = try repo.create(userID: f.admin.id, model: nil) }
        #expect(try ChatDeletion.deleteAll(f.scope) == 3)
        #expect(try repo.ids(userID: f.admin.id).isEmpty)
        let event = try #require(try AuditRepository(f.db).events(AuditQuery(action: "chat.delete", limit: 1)).first)
        #expect(event.details == "{\"chats_deleted\":3,\"scope\":\"all\"}")
    }
}
