import Foundation
import Storage
import Support
import Testing

@testable import Service

/// What each action family records: actor, target, outcome and the exact details; and that no
/// secret, password, token or chat sentence ever reaches a row or an export.
@Suite struct AuditDetailsTests {
    static func events(_ f: DomainFixture, _ action: AuditAction) throws -> [AuditRow] {
        try AuditRepository(f.db).events(AuditQuery(action: action.rawValue, limit: 100, ascending: true))
    }

    static func details(_ row: AuditRow?) -> JSON { row.flatMap { try? JSON.parse($0.details) } ?? .null }

    @Test func aConnectionChangeRecordsBeforeAfterAndOnlyTheKeysFingerprint() throws {
        let f = try DomainFixture()
        let created = try Connections.create(
            f.scope,
            [
                "name": "main", "base_url": "https://api.example.com/v1",
                "api_key": "sk-first-planted-key-0001"
            ])
        let create = try #require(try Self.events(f, .connectionCreate).first)
        #expect(create.actorType == "token" && create.actorEmail == "admin@example.com" && create.outcome == "ok")
        #expect(create.targetType == "connection" && create.targetID == String(created.id) && create.targetName == "main")
        #expect(Self.details(create)["api_key"] == ["change": "set", "fingerprint": "sk-…0001"])

        _ = try Connections.update(
            f.scope, id: created.id,
            [
                "base_url": "https://other.example.com/v1",
                "api_key": "sk-second-planted-key-0002"
            ])
        #expect(
            Self.details(try Self.events(f, .connectionUpdate).first) == [
                "base_url": ["before": "https://api.example.com/v1", "after": "https://other.example.com/v1"],
                "api_key": ["change": "replaced", "fingerprint": "sk-…0002"]
            ])
        _ = try Connections.update(f.scope, id: created.id, ["clear_api_key": true, "enabled": false])
        #expect(
            Self.details(try Self.events(f, .connectionUpdate).last) == [
                "enabled": ["before": true, "after": false], "api_key": ["change": "cleared", "fingerprint": .null]
            ])
        try Connections.delete(f.scope, id: created.id)
        let delete = try #require(try Self.events(f, .connectionDelete).first)
        #expect(Self.details(delete)["api_key_was_set"] == false && delete.targetName == "main")
    }

    @Test func usersTokensAndSettingsRecordTheirChanges() throws {
        let f = try DomainFixture()
        let (user, _) = try Accounts.create(f.scope, email: "pat@example.com", password: "planted-password-9f8e7d6c", role: .user)
        #expect(
            Self.details(try Self.events(f, .userCreate).first) == [
                "email": "pat@example.com", "role": "user", "disabled": false, "password": ["change": "set", "generated": false]
            ])
        _ = try Accounts.update(f.scope, id: user.id, role: .admin, disabled: nil, password: "another-planted-password-1a2b")
        #expect(
            Self.details(try Self.events(f, .userUpdate).first) == [
                "role": ["before": "user", "after": "admin"], "password": ["change": "replaced"], "sessions_and_tokens_ended": true
            ])
        let (token, _) = try APITokens.issue(f.scope, user: user, name: "ci")
        let issued = try #require(try Self.events(f, .tokenCreate).first)
        #expect(issued.targetID == String(token.id) && Self.details(issued)["prefix"] == .string(token.prefix))

        _ = try RuntimeSettings.update(f.scope, ["remote_file_max_size_mb": 7])
        #expect(Self.details(try Self.events(f, .configUpdate).first)["changes"] == ["remote_file_max_size_mb": ["before": 50, "after": 7]])
        try Accounts.delete(f.scope, id: user.id)
        #expect(Self.details(try Self.events(f, .userDelete).first)["chats_deleted"] == 0)
    }

    @Test func failedLoginsAreRecordedAndAFloodIsCappedPerWindow() throws {
        // The limit counts per 15-minute window: a run slow enough to cross into the next window
        // (30 scrypt hashes on a loaded machine) starts again in a fresh fixture.
        var f = try DomainFixture()
        var rows: [AuditRow] = []
        let limit = f.config.loginMaxFailuresPerClient
        for _ in 0..<3 {
            f = try DomainFixture()
            let window = Clock.now() / LoginLimiter.windowSeconds
            let client = Scope(lease: ServicesLease(owned: f.services), requestID: "flood", clientAddress: "203.0.113.9")
            for n in 0..<(limit + 10) {
                _ = try? Accounts.signIn(client, email: "nobody\(n)@example.com", password: "planted-guess-\(n)")
            }
            rows = try Self.events(f, .loginFailed)
            if Clock.now() / LoginLimiter.windowSeconds == window { break }
        }
        #expect(rows.filter { $0.outcome == "failed" }.count == limit)
        let refused = rows.filter { $0.outcome == "denied" }
        #expect(refused.count == 1 && Self.details(refused.first)["reason"] == "rate_limited")
        #expect(rows.allSatisfy { $0.client == "203.0.113.9" && $0.targetName == nil }, "unknown emails are not written")
    }

    @Test func plantedSecretsAndSentencesNeverReachTheTrail() throws {
        let f = try DomainFixture()
        let planted = [
            "sk-planted-connection-key-7c1e", "planted-user-password-4d2a", "planted-reset-password-8b3f",
            "sk-or-v1-planted-valve-key-5e6f", "planted artifact key 0123456789abcdef", "planted chat sentence 6a7b",
            "planted-typed-in-email-field-2c3d"
        ]
        let c = try Connections.create(f.scope, ["name": "p", "base_url": "https://api.example.com/v1", "api_key": .string(planted[0])])
        _ = try Connections.update(f.scope, id: c.id, ["api_key": .string(planted[0] + "x")])
        let (user, _) = try Accounts.create(f.scope, email: "sweep@example.com", password: planted[1], role: .user)
        _ = try Accounts.update(f.scope, id: user.id, role: nil, disabled: nil, password: planted[2])
        try PipeValves.update(f.scope, ["valves": ["API_KEY": .string(planted[3]), "ARTIFACT_ENCRYPTION_KEY": .string(planted[4])]])
        let (_, token) = try APITokens.issue(f.scope, user: user, name: "sweep")
        let chat = try ChatRepository(f.db).create(userID: user.id, model: nil)
        let row = try #require(try ChatRepository(f.db).find(id: chat, userID: user.id))
        _ = try f.db.transaction {
            try f.scope.transcripts.addMessage(
                ChatRepository(f.db), chat: row, role: "user", content: planted[5],
                model: nil, status: "complete")
        }
        let stranger = Scope(lease: ServicesLease(owned: f.services), requestID: "x", clientAddress: "198.51.100.1")
        _ = try? Accounts.signIn(stranger, email: planted[6], password: planted[1])
        _ = try? Accounts.signIn(stranger, email: "sweep@example.com", password: planted[6])
        _ = try ConfigTransfer.export(f.scope, secrets: "encrypted")
        _ = try Retention.run(f.scope) { _ in }

        var trail = try f.db.query("SELECT * FROM audit_events").map { "\($0.values)" }.joined(separator: "\n")
        _ = try AuditReader.export(db: f.db, since: nil) { trail += $0.json.serialized() + "\n" }
        #expect(try AuditRepository(f.db).count() >= 10)
        for secret in planted + [token, String(token.dropFirst(7))] {
            #expect(!trail.contains(secret), "\(secret) reached the audit trail")
        }
    }
}
