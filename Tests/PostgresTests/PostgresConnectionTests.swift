import Foundation
import Postgres
import TestSupport
import Testing

/// libpq against a real cluster (Debian's PostgreSQL, started in a temporary folder).
@Suite("PostgreSQL through libpq", .serialized)
final class PostgresConnectionTests {
    let cluster: PostgresCluster
    let url: PostgresURL

    init() throws {
        cluster = try PostgresCluster()
        url = try PostgresURL.parse(cluster.url()).get()
    }

    deinit { cluster.stop() }

    @Test func valuesMakeTheRoundTripUnchangedAndNULIsRefused() throws {
        let db = try PostgresConnection(url: url)
        try db.run("CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, amount DOUBLE PRECISION, blob BYTEA, note TEXT)")
        let hostile = ["plain", "it's \"quoted\"; DROP TABLE t; --", "\\x41 backslash", "日本語 and 🙂", String(repeating: "z", count: 100_000)]
        let allBytes = (0...255).map(UInt8.init)
        for (i, text) in hostile.enumerated() {
            try db.run(
                "INSERT INTO t (id, name, amount, blob, note) VALUES ($1, $2, $3, $4, $5)",
                [.integer(Int64(i)), .text(text), .real(0.1 * Double(i)), .bytes(allBytes), .null])
        }
        let rows = try db.execute("SELECT id, name, amount, blob, note FROM t ORDER BY id")
        #expect(rows.map { $0.text("name") ?? "" } == hostile)
        #expect(rows.allSatisfy { $0.bytes("blob") == allBytes && $0.text("note") == nil })
        #expect(rows.last?.int("id") == Int64(hostile.count - 1))
        // A NUL would cut a C string short without a word: refused before it is sent.
        #expect(throws: PostgresError.self) { try db.run("INSERT INTO t (id, name) VALUES (99, $1)", [.text("before\u{0}after")]) }
        #expect(try db.execute("SELECT count(*) AS n FROM t").first?.int("n") == Int64(hostile.count))
    }

    @Test func errorsAreSortedByWhatACallerDoes() throws {
        let db = try PostgresConnection(url: url)
        try db.run("CREATE TABLE u (email TEXT UNIQUE)")
        try db.run("INSERT INTO u VALUES ($1)", [.text("a@example.com")])
        do {
            try db.run("INSERT INTO u VALUES ($1)", [.text("a@example.com")])
            Issue.record("a duplicate was accepted")
        } catch {
            #expect(error.kind == .constraint && error.sqlState == "23505")
        }
        do { try db.run("SELEC 1"); Issue.record("bad SQL ran") } catch { #expect(error.kind == .other && error.sqlState == "42601") }
        // The connection is still usable after errors.
        #expect(try db.execute("SELECT 1 AS one").first?.int("one") == 1)
        let nowhere = try PostgresURL.parse("postgresql://ct_test:Hunter2-secret@/postgres?host=/nonexistent-dir").get()
        do {
            _ = try PostgresConnection(url: nowhere)
            Issue.record("connected to nowhere")
        } catch {
            #expect(error.kind == .connection && !error.description.contains("Hunter2"))
        }
    }

    @Test func aTransactionThatThrowsLeavesNothing() throws {
        let db = try PostgresConnection(url: url)
        try db.run("CREATE TABLE v (n INTEGER)")
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try db.transaction {
                try db.run("INSERT INTO v VALUES (1)"); throw Abort()
            }
        }
        try db.transaction { try db.run("INSERT INTO v VALUES (2)") }
        #expect(try db.execute("SELECT n FROM v").map { $0.int("n") } == [2])
    }

    @Test func anAdvisoryLockIsHeldByOneConnectionAtATime() throws {
        let a = try PostgresConnection(url: url)
        let b = try PostgresConnection(url: url)
        let whileHeld = try a.withAdvisoryLock(4242) { try b.execute("SELECT pg_try_advisory_lock(4242) AS got").first?.bool("got") }
        #expect(whileHeld == false)
        #expect(try b.execute("SELECT pg_try_advisory_lock(4242) AS got").first?.bool("got") == true)
    }

    @Test func aNotifyReachesAListenerOnAnotherConnectionWithinASecond() throws {
        let listener = try PostgresConnection(url: url)
        let sender = try PostgresConnection(url: url)
        let channel = "stop \"chat\"; DROP"  // quoted by libpq: any name is safe
        try listener.listen(channel)
        #expect(try listener.nextNotification(timeout: 0.2) == nil)
        let started = Date()
        try sender.notify(channel, payload: "chat 7")
        let note = try listener.nextNotification(timeout: 5)
        #expect(note?.channel == channel && note?.payload == "chat 7")
        #expect(Date().timeIntervalSince(started) < 1)
    }
}
