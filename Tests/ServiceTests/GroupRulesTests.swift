import Foundation
import Storage
import Support
import Testing

@testable import Service

/// The groups' rules in the domain, on a temporary SQLite file: what an admin may change on a
/// group from sign-in, names, and the trail.
@Suite struct GroupRulesTests {
    static func code(_ body: () throws -> Void) -> ErrorCode? {
        do {
            try body()
            return nil
        } catch let e as ServiceError {
            return e.code
        } catch {
            return .internalError
        }
    }

    @Test func anOIDCGroupTakesOnlyAQuotaFromAnAdmin() throws {
        let f = try DomainFixture()
        let user = try UserRepository(f.db).create(email: "sso@example.com", passwordHash: "x", role: .user)
        let synced = try GroupRepository(f.db).replaceOIDCMemberships(userID: user.id, groupNames: ["engineering"])
        let id = try #require(synced.groupIDs.first)

        #expect(Self.code { _ = try Groups.update(f.scope, id: id, GroupChange(name: "renamed")) } == .invalidField)
        #expect(Self.code { _ = try Groups.update(f.scope, id: id, GroupChange(members: [f.admin.id])) } == .invalidField)
        // Sending what is already there is no change, and allowed.
        #expect(Self.code { _ = try Groups.update(f.scope, id: id, GroupChange(name: "engineering", members: [user.id])) } == nil)
        let capped = try Groups.update(f.scope, id: id, GroupChange(quota: .some(2_000)))
        #expect(capped.dailyTokenQuota == 2_000 && capped.members == [user.id] && capped.source == .oidc)
        // A local group cannot take the oidc group's name, nor can a claim join a local one.
        #expect(Self.code { _ = try Groups.create(f.scope, name: "engineering", members: [], quota: nil) } == .nameTaken)
        let local = try Groups.create(f.scope, name: "admins-only", members: [f.admin.id], quota: nil)
        let again = try GroupRepository(f.db).replaceOIDCMemberships(userID: user.id, groupNames: ["engineering", "admins-only"])
        #expect(again.ignored == ["admins-only"] && again.groupIDs == [id])
        #expect(try GroupRepository(f.db).find(id: local.id)?.members == [f.admin.id])

        // The trail: the quota's before and after, nothing for the refused changes.
        let updates = try AuditRepository(f.db).events(AuditQuery(action: AuditAction.groupUpdate.rawValue, limit: 10))
        #expect(updates.count == 1)
        let details = try #require(updates.first.flatMap { try? JSON.parse($0.details) })
        #expect(details == ["daily_token_quota": ["before": .null, "after": 2_000]])
    }

    @Test func namesAreCheckedAndQuotasBounded() throws {
        let f = try DomainFixture()
        for bad in ["", " padded", "padded ", "tab\there", String(repeating: "é", count: 65), "nul\u{0}"] {
            #expect(Self.code { _ = try Groups.create(f.scope, name: bad, members: [], quota: nil) } == .invalidField, "\(bad)")
        }
        #expect(Self.code { _ = try Groups.create(f.scope, name: "q", members: [], quota: -1) } == .invalidField)
        #expect(Self.code { _ = try Groups.create(f.scope, name: "q", members: [], quota: Int64(Groups.maxQuota) + 1) } == .invalidField)
        #expect(Self.code { _ = try Groups.create(f.scope, name: "q", members: [99_999], quota: nil) } == .invalidField)
        #expect(Self.code { _ = try Groups.update(f.scope, id: 12_345, GroupChange(quota: .some(1))) } == .notFound)
        #expect(Self.code { try Groups.delete(f.scope, id: 12_345) } == .notFound)
        #expect(try GroupRepository(f.db).all().isEmpty)
    }
}
