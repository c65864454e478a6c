import Storage
import Support
import Testing

@testable import Service

/// The chain: whole when untouched, and the first edited, deleted or inserted event named.
@Suite struct AuditChainTests {
    /// Five events through the domain's one hook.
    static func fiveEvents(_ f: DomainFixture) throws {
        for n in 1...5 {
            try f.scope.audit(
                .configUpdate, target: AuditTarget("config", name: "runtime settings"),
                details: ["changes": ["default_model": ["before": .string("m\(n - 1)"), "after": .string("m\(n)")]]])
        }
    }

    static func verify(_ f: DomainFixture) throws -> AuditVerification {
        try AuditVerifier.verify(db: f.db, keys: AuditKeys(config: f.config))
    }

    @Test func untouchedChainIsWhole() throws {
        let f = try DomainFixture()
        try Self.fiveEvents(f)
        let result = try Self.verify(f)
        #expect(result.isWhole && result.checked == 5 && result.keyless == 0, "\(result)")
        let rows = try AuditRepository(f.db).events(AuditQuery(limit: 10, ascending: true))
        #expect(rows.map(\.prevID) == [0, 1, 2, 3, 4])
        #expect(rows.allSatisfy { $0.keyID == f.shared.vault.keyring.currentKeyID && $0.actorType == "token" })
    }

    @Test func theTableRefusesUpdatesAndDeletesOfKeptEvents() throws {
        let f = try DomainFixture()
        try Self.fiveEvents(f)
        #expect(throws: StorageError.self) { try f.db.run("UPDATE audit_events SET details = '{}' WHERE id = 2") }
        #expect(throws: StorageError.self) { try f.db.run("DELETE FROM audit_events WHERE id = 2") }
    }

    @Test func anEditedRowIsNamed() throws {
        let f = try DomainFixture()
        try Self.fiveEvents(f)
        // What an attacker with the file does: drop the guard, change the row.
        try f.dropAuditGuard("update")
        try f.db.run("UPDATE audit_events SET details = '{\"changes\":{}}' WHERE id = 3")
        let failure = try #require(try Self.verify(f).failure)
        #expect(failure.eventID == 3 && failure.problem == .edited, "\(failure)")
    }

    @Test func aDeletedMiddleRowIsNamed() throws {
        let f = try DomainFixture()
        try Self.fiveEvents(f)
        try f.dropAuditGuard("delete")
        try f.db.run("DELETE FROM audit_events WHERE id = 3")
        let failure = try #require(try Self.verify(f).failure)
        #expect(failure.eventID == 4 && failure.problem == .deleted && failure.message.contains("event 3"), "\(failure)")
    }

    @Test func aForgedRowIsNamed() throws {
        let f = try DomainFixture()
        try Self.fiveEvents(f)
        // Forged at the end, linked to the real head, with a mac made without the key.
        let last = try #require(try AuditRepository(f.db).events(AuditQuery(limit: 1)).first)
        var forged = last
        forged.id = 6
        forged.prevID = 5
        forged.details = "{\"forged\":true}"
        forged.mac = Encoding.hex(Array(repeating: 0xAB, count: 32))
        try AuditRepository(f.db).insert(forged)
        let failure = try #require(try Self.verify(f).failure)
        #expect(failure.eventID == 6 && failure.message.contains("inserted"), "\(failure)")
        // A keyless row after keyed ones (the SHA-256 anyone can compute) is a downgrade.
        try f.dropAuditGuard("delete")
        try f.db.run("DELETE FROM audit_events WHERE id = 6")
        var keyless = forged
        keyless.keyID = AuditKeys.keylessID
        keyless.mac = try #require(AuditChain.mac(keyless, previousMAC: last.mac, keys: AuditKeys(config: f.config)))
        try AuditRepository(f.db).insert(keyless)
        let downgrade = try #require(try Self.verify(f).failure)
        #expect(downgrade.eventID == 6 && downgrade.problem == .downgraded, "\(downgrade)")
    }

    @Test func withoutAKeyTheChainIsSHA256AndStillCatchesEdits() throws {
        let f = try DomainFixture(key: nil)
        try Self.fiveEvents(f)
        let whole = try Self.verify(f)
        #expect(whole.isWhole && whole.keyless == 5)
        try f.dropAuditGuard("update")
        try f.db.run("UPDATE audit_events SET outcome = 'failed' WHERE id = 2")
        #expect(try Self.verify(f).failure?.eventID == 2)
    }

    @Test func olderEventsVerifyAfterAKeyRotation() throws {
        let old = try DomainFixture(key: DomainFixture.key)
        try Self.fiveEvents(old)
        let rotated = try DomainFixture(key: DomainFixture.otherKey, previous: [DomainFixture.key], reuse: old.directory)
        try Self.fiveEvents(rotated)
        let result = try Self.verify(rotated)
        #expect(result.isWhole && result.checked == 10, "\(result)")
        // Retiring the old key too early makes its events unverifiable, and says so.
        let retired = try DomainFixture(key: DomainFixture.otherKey, reuse: old.directory)
        #expect(try Self.verify(retired).failure?.problem == .unknownKey)
    }

    @Test func aRolledBackChangeTakesItsEventWithIt() throws {
        let f = try DomainFixture()
        // The fixture's admin is the only one: demoting them fails inside the transaction.
        #expect(throws: ServiceError.self) { _ = try Accounts.update(f.scope, id: f.admin.id, role: .user, disabled: nil, password: nil) }
        #expect(try AuditRepository(f.db).count() == 0)
    }

    @Test func concurrentAppendsFormOneChain() throws {
        let f = try DomainFixture()
        let location = f.config.database
        let keys = AuditKeys(config: f.config)
        DispatchQueueConcurrent.run(times: 4) { _ in
            guard let db = try? Database(location) else { return }
            for _ in 0..<25 {
                _ = try? AuditLog.append(
                    .init(
                        actor: .system, client: nil, requestID: nil, action: .retentionCleanup, target: nil,
                        outcome: .ok, details: [:]), db: db, keys: keys)
            }
        }
        let result = try Self.verify(f)
        #expect(result.isWhole && result.checked == 100, "\(result)")
    }
}
