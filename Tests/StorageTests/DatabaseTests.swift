import Foundation
import Storage
import Testing

@Suite struct DatabaseTests {
    func freshDatabase() throws -> Database {
        try Database(path: NSTemporaryDirectory() + "ct-unit-\(UUID().uuidString).db")
    }

    @Test func opensInWALWithSecureDelete() throws {
        let db = try freshDatabase()
        #expect(db.journalMode() == "wal")
        #expect(try db.queryOne("PRAGMA secure_delete")?.int("secure_delete") == 1)
        #expect(try db.queryOne("PRAGMA foreign_keys")?.int("foreign_keys") == 1)
    }

    @Test func migrationsApplyOnceInOrder() throws {
        let db = try freshDatabase()
        #expect(try Migrations.apply(db) == Migrations.all.map(\.version))
        #expect(try Migrations.apply(db).isEmpty)
        #expect(try Migrations.currentVersion(db) == Migrations.latest)
    }

    @Test func refusesASchemaNewerThanTheBuild() throws {
        let db = try freshDatabase()
        try Migrations.apply(db)
        try db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
        #expect(throws: StorageError.self) { try Migrations.apply(db) }
    }

    @Test func transactionRollsBackOnError() throws {
        let db = try freshDatabase()
        try Migrations.apply(db)
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try db.transaction {
                _ = try UserRepository(db).create(email: "a@example.com", passwordHash: "h", role: .user)
                throw Boom()
            }
        }
        #expect(try UserRepository(db).count() == 0)
    }

    @Test func tokensOfOneUserAreInvisibleToAnother() throws {
        let db = try freshDatabase()
        try Migrations.apply(db)
        let users = UserRepository(db)
        let a = try users.create(email: "a@example.com", passwordHash: "h", role: .user)
        let b = try users.create(email: "b@example.com", passwordHash: "h", role: .user)
        let token = try TokenRepository(db).create(userID: a.id, name: "t", tokenHash: "hash", prefix: "ct_x")
        #expect(try TokenRepository(db).delete(id: token.id, userID: b.id) == false)
        #expect(try TokenRepository(db).list(userID: a.id).count == 1)
        #expect(try users.find(email: "A@EXAMPLE.COM")?.id == a.id, "emails compare case-insensitively")
    }

    @Test func rateLimitCountersCountAndReset() throws {
        let db = try freshDatabase()
        try Migrations.apply(db)
        let limits = RateLimitRepository(db)
        for _ in 0..<3 { try limits.increment(key: "k", windowSeconds: 900) }
        #expect(try limits.count(key: "k", windowSeconds: 900) == 3)
        try limits.reset(key: "k")
        #expect(try limits.count(key: "k", windowSeconds: 900) == 0)
    }
}

@Suite struct TextBindingTests {
    /// Found by the route fuzz: text was bound with strlen, so a NUL cut it short (a partial write).
    @Test func textWithANulRoundTripsWhole() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ct-nul-\(UUID().uuidString).db").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let db = try Database(path: path)
        try db.execute("CREATE TABLE t (v TEXT NOT NULL)")
        for value in ["a\u{0}b", "", "\u{0}", "é\u{0}é"] {
            try db.run("DELETE FROM t")
            try db.run("INSERT INTO t (v) VALUES (?)", [.text(value)])
            #expect(try db.queryOne("SELECT v FROM t")?.text("v") == value)
        }
    }
}
