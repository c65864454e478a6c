import Foundation
import Storage
import Testing

@Suite struct GroupRepositoryTests {
    struct Fixture {
        let db: Database
        let groups: GroupRepository
        let alice: User
        let bob: User

        init() throws {
            db = try Database(path: NSTemporaryDirectory() + "ct-groups-\(UUID().uuidString).db")
            try Migrations.apply(db)
            groups = GroupRepository(db)
            alice = try UserRepository(db).create(email: "alice@example.com", passwordHash: "h", role: .user)
            bob = try UserRepository(db).create(email: "bob@example.com", passwordHash: "h", role: .user)
        }
    }

    @Test func createsFindsUpdatesAndDeletes() throws {
        let f = try Fixture()
        let staff = try f.groups.create(name: "staff", dailyTokenQuota: 1000)
        #expect(staff.source == .local && staff.dailyTokenQuota == 1000 && staff.members.isEmpty)
        #expect(try f.groups.find(name: "staff") == staff)
        #expect(try f.groups.find(name: "STAFF") == nil)  // names are exact, on both engines
        #expect(throws: StorageError.self) { try f.groups.create(name: "staff") }

        #expect(try f.groups.rename(id: staff.id, to: "people"))
        #expect(try f.groups.setDailyTokenQuota(id: staff.id, nil))
        let renamed = try #require(try f.groups.find(id: staff.id))
        #expect(renamed.name == "people" && renamed.dailyTokenQuota == nil)
        #expect(try !f.groups.rename(id: 9999, to: "x"))

        #expect(try f.groups.addMember(groupID: staff.id, userID: f.alice.id))
        #expect(try !f.groups.addMember(groupID: staff.id, userID: f.alice.id))
        #expect(try f.groups.addMember(groupID: staff.id, userID: f.bob.id))
        #expect(try f.groups.find(id: staff.id)?.members == [f.alice.id, f.bob.id])
        #expect(throws: StorageError.self) { try f.groups.addMember(groupID: staff.id, userID: 4242) }
        #expect(try f.groups.removeMember(groupID: staff.id, userID: f.bob.id))
        #expect(try f.groups.groupIDs(userID: f.alice.id) == [staff.id])
        #expect(try f.groups.all().map(\.members) == [[f.alice.id]])

        #expect(try f.groups.delete(id: staff.id))
        #expect(try f.groups.groupIDs(userID: f.alice.id).isEmpty)
        #expect(try !f.groups.delete(id: staff.id))
    }

    @Test func idsAreNeverReused() throws {
        let f = try Fixture()
        let first = try f.groups.create(name: "a")
        try f.groups.delete(id: first.id)
        #expect(try f.groups.create(name: "a").id > first.id)
    }

    @Test func quotaCannotBeNegative() throws {
        let f = try Fixture()
        #expect(throws: StorageError.self) { try f.groups.create(name: "neg", dailyTokenQuota: -1) }
    }

    @Test func deletingAUserRemovesTheirMemberships() throws {
        let f = try Fixture()
        let g = try f.groups.create(name: "g")
        try f.groups.setMembers(groupID: g.id, userIDs: [f.alice.id, f.bob.id, f.alice.id])
        #expect(try f.groups.find(id: g.id)?.members == [f.alice.id, f.bob.id])
        #expect(try UserRepository(f.db).delete(id: f.bob.id))
        #expect(try f.groups.find(id: g.id)?.members == [f.alice.id])
        #expect(throws: StorageError.self) { try f.groups.setMembers(groupID: g.id, userIDs: [f.alice.id, 777]) }
        #expect(try f.groups.find(id: g.id)?.members == [f.alice.id])  // all or nothing
    }

    @Test func signInReplacesOnlyOIDCMemberships() throws {
        let f = try Fixture()
        let local = try f.groups.create(name: "local-team")
        try f.groups.addMember(groupID: local.id, userID: f.alice.id)

        let first = try f.groups.replaceOIDCMemberships(userID: f.alice.id, groupNames: ["eng", "ops", "eng"])
        #expect(first.ignored.isEmpty && first.groupIDs.count == 2)
        let eng = try #require(try f.groups.find(name: "eng"))
        let ops = try #require(try f.groups.find(name: "ops"))
        #expect(eng.source == .oidc && ops.source == .oidc)
        #expect(try f.groups.groupIDs(userID: f.alice.id) == [local.id, eng.id, ops.id])

        // Bob shares "eng"; no second group is made.
        _ = try f.groups.replaceOIDCMemberships(userID: f.bob.id, groupNames: ["eng"])
        #expect(try f.groups.find(id: eng.id)?.members == [f.alice.id, f.bob.id])

        // The next sign-in drops "ops", adds "sec"; the local membership stays.
        let second = try f.groups.replaceOIDCMemberships(userID: f.alice.id, groupNames: ["eng", "sec"])
        let sec = try #require(try f.groups.find(name: "sec"))
        #expect(second.groupIDs == [eng.id, sec.id])
        #expect(try f.groups.groupIDs(userID: f.alice.id) == [local.id, eng.id, sec.id])
        #expect(try f.groups.find(id: ops.id)?.members == [])  // the group stays, empty
        #expect(try f.groups.find(id: eng.id)?.members == [f.alice.id, f.bob.id])

        // An empty claim removes every oidc membership, nothing else.
        _ = try f.groups.replaceOIDCMemberships(userID: f.alice.id, groupNames: [])
        #expect(try f.groups.groupIDs(userID: f.alice.id) == [local.id])
    }

    @Test func aClaimNeverJoinsALocalGroup() throws {
        let f = try Fixture()
        let admins = try f.groups.create(name: "admins", dailyTokenQuota: 10)
        let result = try f.groups.replaceOIDCMemberships(userID: f.bob.id, groupNames: ["admins", "eng"])
        #expect(result.ignored == ["admins"])
        #expect(try f.groups.find(id: admins.id)?.members == [])
        #expect(try f.groups.find(id: admins.id)?.source == .local)
        #expect(try f.groups.groupIDs(userID: f.bob.id) == result.groupIDs && result.groupIDs.count == 1)
    }

    @Test func hostileClaimsAreBounded() throws {
        let f = try Fixture()
        let long = String(repeating: "x", count: GroupRepository.maxNameBytes + 1)
        let many = (0..<(GroupRepository.maxOIDCGroups + 5)).map { "g\($0)" }
        let result = try f.groups.replaceOIDCMemberships(userID: f.alice.id, groupNames: ["", long, "bad\u{0}name", "ok"] + many)
        #expect(result.groupIDs.count == GroupRepository.maxOIDCGroups)
        #expect(result.ignored.contains("") && result.ignored.contains(long) && result.ignored.contains("bad\u{0}name"))
        #expect(result.ignored.count == 3 + 6)
        #expect(try f.groups.find(name: long) == nil)
    }

    @Test func replacementIsOneTransaction() throws {
        let f = try Fixture()
        _ = try f.groups.replaceOIDCMemberships(userID: f.alice.id, groupNames: ["eng"])
        // A user that does not exist fails at the membership insert: nothing of it stays.
        #expect(throws: StorageError.self) { try f.groups.replaceOIDCMemberships(userID: 4242, groupNames: ["brand-new"]) }
        #expect(try f.groups.find(name: "brand-new") == nil)
        #expect(try f.groups.groupIDs(userID: f.alice.id).count == 1)
    }
}
