import CSQLite

/// Prepared statements kept per connection: preparing cost more than running the short queries
/// that every request makes (session lookup, one chat, its messages). A statement is taken out of
/// the cache while in use, so a nested query with the same text prepares its own.
extension SQLiteConnection {
    /// More distinct statements than the code holds means SQL built from data: those are not kept.
    static let cachedStatementLimit = 128

    func statement(for sql: String) throws(StorageError) -> OpaquePointer {
        if let cached = statements.removeValue(forKey: sql) { return cached }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK, let statement else { throw error(rc, .prepare) }
        return statement
    }

    /// Resets a statement and puts it back, or finalizes it when the cache is full or it holds
    /// the same text already.
    func release(_ statement: OpaquePointer, _ sql: String) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        if statements.count < Self.cachedStatementLimit, statements[sql] == nil {
            statements[sql] = statement
        } else {
            sqlite3_finalize(statement)
        }
    }

    /// Steps through the rows of `sql`, handing each to `body` as column views that are valid
    /// only inside `body` (no `Row` dictionary, no copies).
    func each(_ sql: String, _ params: [SQLValue], _ body: (Columns) throws -> Void) throws {
        let statement = try prepare(sql, params)
        defer { release(statement, sql) }
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { return }
            guard rc == SQLITE_ROW else { throw error(rc, .step) }
            try body(Columns(.sqlite(statement)))
        }
    }
}

/// Column reads of a SQLite statement's current row (`Columns` for the SQLite engine).
enum SQLiteColumns {
    static func isNull(_ s: OpaquePointer, _ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_NULL }
    static func isBlob(_ s: OpaquePointer, _ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_BLOB }
    static func isText(_ s: OpaquePointer, _ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_TEXT }
    static func isInteger(_ s: OpaquePointer, _ i: Int32) -> Bool { sqlite3_column_type(s, i) == SQLITE_INTEGER }
    static func int(_ s: OpaquePointer, _ i: Int32) -> Int64 { sqlite3_column_int64(s, i) }

    static func text(_ s: OpaquePointer, _ i: Int32) -> UnsafeBufferPointer<UInt8> {
        guard let p = sqlite3_column_text(s, i) else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: p, count: Int(sqlite3_column_bytes(s, i)))
    }

    static func blob(_ s: OpaquePointer, _ i: Int32) -> UnsafeRawBufferPointer {
        guard let p = sqlite3_column_blob(s, i) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(s, i)))
    }
}
