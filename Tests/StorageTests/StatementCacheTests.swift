import Foundation
import Storage
import Testing

@Suite struct StatementCacheTests {
    @Test func repeatedAndNestedQueriesWithTheSameTextAnswerCorrectly() throws {
        let db = try Database(path: NSTemporaryDirectory() + "ct-stmt-\(UUID().uuidString).db")
        try db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        for i in 1...5 { try db.run("INSERT INTO t (v) VALUES (?)", [.text("v\(i)")]) }
        let sql = "SELECT id, v FROM t WHERE id >= ? ORDER BY id"
        var outer: [Int64] = []
        try db.each(sql, [.integer(2)]) { row in
            outer.append(row.int(0))
            // The same text while the first is in use: it gets its own statement.
            let inner = try db.query(sql, [.integer(4)]).count
            #expect(inner == 2)
        }
        #expect(outer == [2, 3, 4, 5])
        for i in 1...5 { #expect(try db.query(sql, [.integer(Int64(i))]).count == 6 - i) }
        // A failed bind or step leaves the cached statement reusable.
        #expect(throws: StorageError.self) { try db.run("INSERT INTO t (id, v) VALUES (?, ?)", [.integer(1), .text("dup")]) }
        #expect(throws: StorageError.self) { try db.run("INSERT INTO t (id, v) VALUES (?, ?)", [.integer(1), .text("dup")]) }
        try db.run("INSERT INTO t (id, v) VALUES (?, ?)", [.integer(9), .text("ok")])
        #expect(try db.queryOne("SELECT v FROM t WHERE id = ?", [.integer(9)])?.text("v") == "ok")
        // A table dropped and made again under a cached statement.
        try db.execute("DROP TABLE t; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, w TEXT)")
        #expect(try db.query(sql, [.integer(0)]).isEmpty)
    }
}
