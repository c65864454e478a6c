import Foundation
import Storage
import Support
import Synchronization
import Testing

@Suite struct QuotaRepositoryTests {
    struct Fixture {
        let path: String
        let db: Database
        let user: User
        init() throws {
            path = NSTemporaryDirectory() + "ct-quota-\(UUID().uuidString).db"
            db = try Database(path: path)
            try Migrations.apply(db)
            user = try UserRepository(db).create(email: "q@example.com", passwordHash: "h", role: .user)
        }
    }

    @Test func theMostGenerousQuotaOfTheUsersGroupsApplies() throws {
        let f = try Fixture()
        let groups = GroupRepository(f.db)
        let quotas = QuotaRepository(f.db)
        #expect(try quotas.effectiveQuota(userID: f.user.id) == nil)
        let none = try groups.create(name: "none")
        try groups.addMember(groupID: none.id, userID: f.user.id)
        #expect(try quotas.effectiveQuota(userID: f.user.id) == nil)  // a group without a quota sets none
        for (name, quota) in [("small", Int64(10)), ("large", 500), ("zero", 0)] {
            let g = try groups.create(name: name, dailyTokenQuota: quota)
            try groups.addMember(groupID: g.id, userID: f.user.id)
        }
        #expect(try quotas.effectiveQuota(userID: f.user.id) == 500)
    }

    @Test func reservationsFitTheQuotaAndSettleOnTheRealCount() throws {
        let f = try Fixture()
        let q = QuotaRepository(f.db)
        let later = Clock.now() + 600
        let a = try #require(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 60, quota: 100, expiresAt: later))
        #expect(a.tokens == 60)
        // More than is left: what is left.
        let b = try #require(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 41, quota: 100, expiresAt: later))
        #expect(b.tokens == 40)
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 1, quota: 100, expiresAt: later) == nil)
        #expect(try q.day(userID: f.user.id, day: "2026-12-02") == (0, 100))
        try q.settle(reservationID: a.id, userID: f.user.id, day: "2026-12-02", used: 70)  // used more than reserved
        try q.settle(reservationID: a.id, userID: f.user.id, day: "2026-12-02", used: 0)  // a second settle changes nothing
        #expect(try q.day(userID: f.user.id, day: "2026-12-02") == (70, 40))
        try q.settle(reservationID: b.id, userID: f.user.id, day: "2026-12-02", used: 0)  // released (the answer failed)
        #expect(try q.day(userID: f.user.id, day: "2026-12-02") == (70, 0))
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 31, quota: 100, expiresAt: later)?.tokens == 30)
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 1, quota: 100, expiresAt: later) == nil)
        // A quota of 0 admits nothing; a spent quota stays spent when it is lowered below the use.
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 1, quota: 50, expiresAt: later) == nil)
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-04", tokens: 1, quota: 0, expiresAt: later) == nil)
        // Another day is another ledger.
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-03", tokens: 100, quota: 100, expiresAt: later) != nil)
    }

    @Test func aCrashedRespondersReservationsExpire() throws {
        let f = try Fixture()
        let q = QuotaRepository(f.db)
        // A reservation whose responder died: it expired a second ago.
        _ = try #require(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 100, quota: 100, expiresAt: Clock.now() - 1))
        #expect(try q.day(userID: f.user.id, day: "2026-12-02").reserved == 100)
        // The next reservation gives it back first, and fits.
        #expect(try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 100, quota: 100, expiresAt: Clock.now() + 600) != nil)
        #expect(try q.day(userID: f.user.id, day: "2026-12-02") == (0, 100))
    }

    @Test func cleanupDropsPastDaysOfTheLedgerOnly() throws {
        let f = try Fixture()
        let q = QuotaRepository(f.db)
        _ = try q.reserve(userID: f.user.id, day: "2026-11-01", tokens: 5, quota: 10, expiresAt: 1)
        _ = try q.reserve(userID: f.user.id, day: "2026-12-02", tokens: 5, quota: 10, expiresAt: Clock.now() + 600)
        try UsageRepository(f.db).record(day: "2026-11-01", userID: f.user.id, model: "m", prompt: 1, completion: 1, estimated: false)
        // The second reservation already gave the expired one back; the old day's row goes.
        #expect(try q.prune(before: "2026-11-30", now: Clock.now()) == 1)
        #expect(try q.day(userID: f.user.id, day: "2026-12-02") == (0, 5))
        #expect(try UsageRepository(f.db).rows(userID: nil, since: "2026-11-01", until: "2026-11-01").count == 1)
    }

    @Test func concurrentReservationsOnSeparateConnectionsNeverOverbook() throws {
        let f = try Fixture()
        let admitted = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<16 {
            group.enter()
            let path = f.path
            let user = f.user.id
            Thread {
                defer { group.leave() }
                do {
                    let db = try Database(path: path)
                    for _ in 0..<10 {
                        if try QuotaRepository(db).reserve(
                            userID: user, day: "2026-12-02", tokens: 7, quota: 500, expiresAt: Clock.now() + 600)
                            != nil
                        {
                            admitted.add(1, ordering: .relaxed)
                        }
                    }
                } catch {
                    failures.add(1, ordering: .relaxed)
                }
            }.start()
        }
        group.wait()
        #expect(failures.load(ordering: .relaxed) == 0)
        // 71 reservations of 7, one of the 3 left, then nothing: exactly the quota, never more.
        #expect(admitted.load(ordering: .relaxed) == 500 / 7 + 1)
        #expect(try QuotaRepository(f.db).day(userID: f.user.id, day: "2026-12-02").reserved == 500)
    }

    @Test func usageAddsUpPerDayUserAndModel() throws {
        let f = try Fixture()
        let usage = UsageRepository(f.db)
        try usage.record(day: "2026-12-01", userID: f.user.id, model: "m", prompt: 10, completion: 5, estimated: false)
        try usage.record(day: "2026-12-02", userID: f.user.id, model: "m", prompt: 10, completion: 5, estimated: false)
        try usage.record(day: "2026-12-02", userID: f.user.id, model: "m", prompt: 1, completion: 2, estimated: true)
        try usage.record(day: "2026-12-02", userID: f.user.id, model: "n", prompt: 1, completion: 1, estimated: false)
        let rows = try usage.rows(userID: f.user.id, since: "2026-12-02", until: "2026-12-02")
        #expect(rows.map(\.model) == ["m", "n"])
        let m = try #require(rows.first)
        #expect(m.requests == 2 && m.promptTokens == 11 && m.completionTokens == 7 && m.estimatedRequests == 1)
        #expect(try usage.rows(userID: nil, since: "2026-11-01", until: "2026-12-31").count == 3)
        #expect(try usage.rows(userID: f.user.id + 1, since: "2026-11-01", until: "2026-12-31").isEmpty)
        // A deleted user's usage goes with them.
        _ = try UserRepository(f.db).delete(id: f.user.id)
        #expect(try usage.rows(userID: nil, since: "2026-11-01", until: "2026-12-31").isEmpty)
    }
}
