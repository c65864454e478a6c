import CSQLite
import Foundation
import Support

/// A SQLite connection owned by one thread. WAL, a busy timeout and `secure_delete` are set on open.
final class SQLiteConnection {
    let handle: OpaquePointer
    let path: String
    /// Prepared statements by SQL text, kept for the connection's life (`Database+Statements`).
    var statements: [String: OpaquePointer] = [:]

    init(path: String, busyTimeoutMillis: Int32) throws(StorageError) {
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close(db) }
            throw StorageError(.open, "cannot open \(path): \(message)")
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, busyTimeoutMillis)
        sqlite3_extended_result_codes(db, 1)
        try execute("PRAGMA journal_mode=WAL")
        try execute("PRAGMA secure_delete=ON")
        try execute("PRAGMA foreign_keys=ON")
        try execute("PRAGMA synchronous=NORMAL")
    }

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    var lastError: String { String(cString: sqlite3_errmsg(handle)) }

    func error(_ rc: Int32, _ kind: StorageError.Kind) -> StorageError {
        let primary = rc & 0xFF
        if primary == SQLITE_CONSTRAINT { return StorageError(.constraint, lastError) }
        if primary == SQLITE_BUSY || primary == SQLITE_LOCKED { return StorageError(.busy, lastError) }
        if primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB { return StorageError(.corrupt, lastError) }
        return StorageError(kind, lastError)
    }

    /// Runs one or more statements without parameters or results.
    func execute(_ sql: String) throws(StorageError) {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? lastError
            sqlite3_free(message)
            throw StorageError(rc & 0xFF == SQLITE_CONSTRAINT ? .constraint : .step, text)
        }
    }

    @discardableResult
    func run(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> Int {
        let statement = try prepare(sql, params)
        defer { release(statement, sql) }
        let rc = sqlite3_step(statement)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw error(rc, .step) }
        return Int(sqlite3_changes(handle))
    }

    func query(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> [Row] {
        let statement = try prepare(sql, params)
        defer { release(statement, sql) }
        var rows: [Row] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, .step) }
            rows.append(readRow(statement))
        }
        return rows
    }

    func queryOne(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> Row? {
        try query(sql, params).first
    }

    /// Copies the WAL into the main file and empties it, so deleted rows leave the WAL too.
    func checkpointWAL() throws(StorageError) { try run("PRAGMA wal_checkpoint(TRUNCATE)") }

    /// True inside BEGIN ... COMMIT: an audit event then joins the change it records.
    var inTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Serializes this process's write transactions. SQLite allows one writer at a time; without
    /// this, hundreds of threads starting answers at once each poll the lock through the busy
    /// handler, which sleeps up to 100 ms between tries. A mutex hands the turn over at once.
    /// (Other processes on the same file still meet the busy timeout.)
    static let writeTurn = NSRecursiveLock()  // recursive: a nested BEGIN still fails as an error, not a deadlock

    /// Runs `body` in an IMMEDIATE transaction: all of it lands, or none of it.
    func transaction<T>(_ body: () throws -> T) throws -> T {
        Self.writeTurn.lock()
        defer { Self.writeTurn.unlock() }
        try execute("BEGIN IMMEDIATE")
        do {
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    func prepare(_ sql: String, _ params: [SQLValue]) throws(StorageError) -> OpaquePointer {
        let statement = try statement(for: sql)
        for (offset, value) in params.enumerated() {
            let index = Int32(offset + 1)
            let bindRC: Int32
            switch value {
            case .null: bindRC = sqlite3_bind_null(statement, index)
            case .integer(let i): bindRC = sqlite3_bind_int64(statement, index, i)
            case .real(let d): bindRC = sqlite3_bind_double(statement, index, d)
            case .text(let s):
                // The UTF-8 length, not strlen: a NUL inside the text must not cut it short.
                var text = s
                bindRC =
                    text.isEmpty
                    ? csqlite_bind_text_transient(statement, index, "", 0)
                    : text.withUTF8 { bytes in
                        bytes.withMemoryRebound(to: CChar.self) {
                            csqlite_bind_text_transient(
                                statement, index, $0.baseAddress,
                                Int32(clamping: $0.count))
                        }
                    }
            case .blob(let b):
                bindRC = b.withUnsafeBytes { csqlite_bind_blob_transient(statement, index, $0.baseAddress, Int32(b.count)) }
            }
            guard bindRC == SQLITE_OK else {
                let failure = error(bindRC, .prepare)
                release(statement, sql)
                throw failure
            }
        }
        return statement
    }

    func readRow(_ statement: OpaquePointer) -> Row {
        var values: [String: SQLValue] = [:]
        for column in 0..<sqlite3_column_count(statement) {
            let name = String(cString: sqlite3_column_name(statement, column))
            switch sqlite3_column_type(statement, column) {
            case SQLITE_INTEGER: values[name] = .integer(sqlite3_column_int64(statement, column))
            case SQLITE_FLOAT: values[name] = .real(sqlite3_column_double(statement, column))
            case SQLITE_TEXT:
                let count = Int(sqlite3_column_bytes(statement, column))
                if let text = sqlite3_column_text(statement, column) {
                    values[name] = .text(String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self))
                } else {
                    values[name] = .text("")
                }
            case SQLITE_BLOB:
                let count = Int(sqlite3_column_bytes(statement, column))
                if let blob = sqlite3_column_blob(statement, column) {
                    values[name] = .blob(Array(UnsafeRawBufferPointer(start: blob, count: count)))
                } else {
                    values[name] = .blob([])
                }
            default: values[name] = .null
            }
        }
        return Row(values: values)
    }

    /// `PRAGMA quick_check` answer, for the status endpoint.
    func healthy() -> Bool {
        (try? queryOne("SELECT 1 AS ok")?.int("ok")) == 1
    }

    func journalMode() -> String {
        (try? queryOne("PRAGMA journal_mode")?.text("journal_mode")) ?? "unknown"
    }

    static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}
