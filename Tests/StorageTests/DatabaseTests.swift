import Foundation
import Storage
import TestSupport
import Testing

/// The store and the repositories on both engines (`TestEngine.available`): SQLite and a fresh
/// database on the test process's PostgreSQL cluster.
@Suite struct DatabaseTests {
    @Test func opensInWALWithSecureDelete() throws {
        let db = try freshDatabase(.sqlite)
        #expect(db.journalMode() == "wal")
        #expect(try db.queryOne("PRAGMA secure_delete")?.int("secure_delete") == 1)
        #expect(try db.queryOne("PRAGMA foreign_keys")?.int("foreign_keys") == 1)
    }

    @Test(arguments: TestEngine.available) func migrationsApplyOnceInOrder(engine: TestEngine) throws {
        let db = try freshDatabase(engine)
        #expect(try Migrations.apply(db) == Migrations.all.map(\.version))
        #expect(try Migrations.apply(db).isEmpty)
        #expect(try Migrations.currentVersion(db) == Migrations.latest)
    }

    @Test(arguments: TestEngine.available) func refusesASchemaNewerThanTheBuild(engine: TestEngine) throws {
        let db = try freshDatabase(engine)
        try Migrations.apply(db)
        try db.run("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)")
        #expect(throws: StorageError.self) { try Migrations.apply(db) }
    }

    @Test(arguments: TestEngine.available) func transactionRollsBackOnError(engine: TestEngine) throws {
        let db = try freshDatabase(engine)
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

    @Test(arguments: TestEngine.available) func tokensOfOneUserAreInvisibleToAnother(engine: TestEngine) throws {
        let db = try freshDatabase(engine)
        try Migrations.apply(db)
        let users = UserRepository(db)
        let a = try users.create(email: "a@example.com", passwordHash: "h", role: .user)
        let b = try users.create(email: "b@example.com", passwordHash: "h", role: .user)
        let token = try TokenRepository(db).create(userID: a.id, name: "t", tokenHash: "hash", prefix: "ct_x")
        #expect(try TokenRepository(db).delete(id: token.id, userID: b.id) == false)
        #expect(try TokenRepository(db).list(userID: a.id).count == 1)
        #expect(try users.find(email: "A@EXAMPLE.COM")?.id == a.id, "emails compare case-insensitively")
    }

    @Test(arguments: TestEngine.available) func rateLimitCountersCountAndReset(engine: TestEngine) throws {
        let db = try freshDatabase(engine)
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
    /// SQLite stores it whole; PostgreSQL's TEXT cannot hold U+0000, so the store refuses it as an
    /// invalid value (the API answers 400 `invalid_field`), never storing a cut string.
    @Test(arguments: TestEngine.available) func textWithANulRoundTripsWholeOrIsRefused(engine: TestEngine) throws {
        let db = try freshDatabase(engine, "nul")
        try db.execute("CREATE TABLE t (v TEXT NOT NULL)")
        for value in ["a\u{0}b", "", "\u{0}", "é\u{0}é"] {
            try db.run("DELETE FROM t")
            if engine == .postgresql, value.utf8.contains(0) {
                #expect { try db.run("INSERT INTO t (v) VALUES (?)", [.text(value)]) } throws: {
                    ($0 as? StorageError)?.kind == .invalidValue
                }
                #expect(try db.queryOne("SELECT COUNT(*) AS n FROM t")?.int("n") == 0)
                continue
            }
            try db.run("INSERT INTO t (v) VALUES (?)", [.text(value)])
            #expect(try db.queryOne("SELECT v FROM t")?.text("v") == value)
        }
    }
}
