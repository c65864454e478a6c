import Foundation
import Postgres
import Support

/// Where the store lives: a SQLite file (the embedded default) or a PostgreSQL database.
public enum DatabaseLocation: Sendable, CustomStringConvertible {
    case sqlite(path: String)
    case postgresql(PostgresURL)

    /// The path, or the URL with its password masked: safe in messages and logs.
    public var description: String {
        switch self {
        case .sqlite(let path): path
        case .postgresql(let url): url.masked
        }
    }
}

/// One connection to the store, owned by one thread at a time. Repositories write one SQL
/// dialect that both engines accept (`?` placeholders, `RETURNING`, `ON CONFLICT`); where the
/// engines differ (search, schema, catalogue queries) they ask `engine`.
public final class Database {
    public enum Engine: String, Sendable { case sqlite, postgresql }
    enum Backend {
        case sqlite(SQLiteConnection)
        case postgres(PostgresStore)
    }

    public let engine: Engine
    /// The file path or the masked URL: names the store in messages and per-store caches.
    public let path: String
    let backend: Backend

    public convenience init(path: String, busyTimeoutMillis: Int32 = 5000) throws(StorageError) {
        try self.init(.sqlite(path: path), busyTimeoutMillis: busyTimeoutMillis)
    }

    public init(_ location: DatabaseLocation, busyTimeoutMillis: Int32 = 5000) throws(StorageError) {
        path = location.description
        switch location {
        case .sqlite(let file):
            engine = .sqlite
            backend = .sqlite(try SQLiteConnection(path: file, busyTimeoutMillis: busyTimeoutMillis))
        case .postgresql(let url):
            engine = .postgresql
            backend = .postgres(try PostgresStore(url: url))
        }
    }

    /// Runs one or more statements without parameters or results (DDL).
    public func execute(_ sql: String) throws(StorageError) {
        switch backend {
        case .sqlite(let c): try c.execute(sql)
        case .postgres(let p): try p.execute(sql)
        }
    }

    /// Runs one statement; returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> Int {
        switch backend {
        case .sqlite(let c): try c.run(sql, params)
        case .postgres(let p): try p.run(sql, params)
        }
    }

    public func query(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> [Row] {
        switch backend {
        case .sqlite(let c): try c.query(sql, params)
        case .postgres(let p): try p.query(sql, params)
        }
    }

    public func queryOne(_ sql: String, _ params: [SQLValue] = []) throws(StorageError) -> Row? {
        try query(sql, params).first
    }

    /// Runs an `INSERT … RETURNING id` and returns the new row's id.
    public func insert(_ sql: String, _ params: [SQLValue]) throws(StorageError) -> Int64 {
        guard let id = try queryOne(sql + " RETURNING id", params)?.int("id") else {
            throw StorageError(.step, "an insert returned no id")
        }
        return id
    }

    /// Steps through the rows of `sql`, handing each to `body` as column views that are valid
    /// only inside `body` (no `Row` dictionary, no copies).
    public func each(_ sql: String, _ params: [SQLValue], _ body: (Columns) throws -> Void) throws {
        switch backend {
        case .sqlite(let c): try c.each(sql, params, body)
        case .postgres(let p): try p.each(sql, params, body)
        }
    }

    /// True inside a transaction: an audit event then joins the change it records.
    public var inTransaction: Bool {
        switch backend {
        case .sqlite(let c): c.inTransaction
        case .postgres(let p): p.inTransaction
        }
    }

    /// What a PostgreSQL transaction waits for besides row locks. SQLite has one writer at a time
    /// whatever is asked (BEGIN IMMEDIATE).
    public enum WriteLock: Sendable {
        /// Alone, as on SQLite: an advisory lock every responder takes. The default: a change that
        /// reads before it writes stays correct without more thought.
        case store
        /// Row locks and constraints only: the hot paths of an answer (messages, partial
        /// answers, artifacts), whose rows no other writer shares.
        case rows
        /// One advisory lock of the caller's (one user's streams).
        case key(Int64)
    }

    /// Runs `body` in a transaction: all of it lands, or none of it.
    public func transaction<T>(_ lock: WriteLock = .store, _ body: () throws -> T) throws -> T {
        switch backend {
        case .sqlite(let c): try c.transaction(body)
        case .postgres(let p): try p.transaction(lock, body)
        }
    }

    /// Inside a transaction on PostgreSQL: waits for the advisory lock `key` until the transaction
    /// ends (the audit chain's head). Nothing on SQLite, whose transactions already write alone.
    public func lock(_ key: Int64) throws(StorageError) {
        guard engine == .postgresql else { return }
        try run("SELECT pg_advisory_xact_lock(?)", [.integer(key)])
    }

    /// Copies SQLite's WAL into the main file and empties it, so deleted rows leave the WAL too.
    /// PostgreSQL's own WAL and vacuum are the operator's (docs/deployment.md).
    public func checkpointWAL() throws(StorageError) {
        if case .sqlite(let c) = backend { try c.checkpointWAL() }
    }

    /// A trivial query answered: the status endpoint's check.
    public func healthy() -> Bool {
        (try? queryOne("SELECT 1 AS ok")?.int("ok")) == 1
    }

    public func journalMode() -> String {
        switch backend {
        case .sqlite(let c): c.journalMode()
        case .postgres: "wal"
        }
    }

    /// Holds a lock every process on this store shares while `body` runs: migrations run once
    /// when responders start together. SQLite's file lock already does this inside a transaction.
    public func withStoreLock<T>(_ body: () throws -> T) throws -> T {
        switch backend {
        case .sqlite: try body()
        case .postgres(let p): try p.withAdvisoryLock(PostgresStore.migrationLock, body)
        }
    }

    // MARK: notifications between responders (PostgreSQL LISTEN/NOTIFY; nothing on SQLite)

    /// Starts receiving `channel`'s notifications on this connection.
    public func listen(_ channel: String) throws(StorageError) {
        guard case .postgres(let p) = backend else { return }
        p.ready()
        do { try p.connection.listen(channel) } catch { throw PostgresStore.storageError(error) }
    }

    /// Waits up to `timeout` seconds for a notification; true when one (or more) came.
    public func awaitNotification(timeout: Double) throws(StorageError) -> Bool {
        guard case .postgres(let p) = backend else {
            usleep(UInt32(max(0, timeout) * 1_000_000))
            return false
        }
        do {
            guard try p.connection.nextNotification(timeout: timeout) != nil else { return false }
            while try p.connection.nextNotification(timeout: 0) != nil {}
            return true
        } catch {
            throw PostgresStore.storageError(error)
        }
    }

    /// Wakes every listener of `channel` (after the current transaction commits, if any).
    public func notify(_ channel: String) throws(StorageError) {
        guard engine == .postgresql else { return }
        try run("SELECT pg_notify(?, '')", [.text(channel)])
    }

    public static var sqliteVersion: String { SQLiteConnection.libraryVersion }
}

/// The current row of a result, read by column index. For SQLite the statement's row; for
/// PostgreSQL one row of a binary result.
public struct Columns {
    enum Source {
        case sqlite(OpaquePointer)
        case postgres(PostgresResult, Int32)
    }
    let source: Source
    init(_ source: Source) { self.source = source }

    public func isNull(_ i: Int32) -> Bool {
        switch source {
        case .sqlite(let s): SQLiteColumns.isNull(s, i)
        case .postgres(let r, let row): r.isNull(row, i)
        }
    }
    public func isBlob(_ i: Int32) -> Bool {
        switch source {
        case .sqlite(let s): SQLiteColumns.isBlob(s, i)
        case .postgres(let r, let row): !r.isNull(row, i) && r.type(i) == .bytea
        }
    }
    public func isText(_ i: Int32) -> Bool {
        switch source {
        case .sqlite(let s): SQLiteColumns.isText(s, i)
        case .postgres(let r, let row): !r.isNull(row, i) && r.type(i) == .text
        }
    }
    public func isInteger(_ i: Int32) -> Bool {
        switch source {
        case .sqlite(let s): SQLiteColumns.isInteger(s, i)
        case .postgres(let r, let row): !r.isNull(row, i) && r.type(i).isInteger
        }
    }
    public func int(_ i: Int32) -> Int64 {
        switch source {
        case .sqlite(let s): SQLiteColumns.int(s, i)
        case .postgres(let r, let row): r.integer(row, i) ?? 0
        }
    }

    /// A text column's UTF-8 bytes, valid until the next row.
    public func text(_ i: Int32) -> UnsafeBufferPointer<UInt8> {
        switch source {
        case .sqlite(let s): SQLiteColumns.text(s, i)
        case .postgres(let r, let row):
            r.bytes(row, i).assumingMemoryBound(to: UInt8.self)
        }
    }

    /// A blob column's bytes, valid until the next row.
    public func blob(_ i: Int32) -> UnsafeRawBufferPointer {
        switch source {
        case .sqlite(let s): SQLiteColumns.blob(s, i)
        case .postgres(let r, let row): r.bytes(row, i)
        }
    }
}

public struct StorageError: Error, Sendable, CustomStringConvertible {
    /// `invalidValue`: a value the engine cannot store (PostgreSQL: text holding U+0000).
    public enum Kind: Sendable { case open, prepare, step, constraint, busy, migration, corrupt, invalidValue }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "database: \(message)" }
}

public enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .text(value) }
    public init(integerLiteral value: Int64) { self = .integer(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(_ s: String?) { self = s.map { .text($0) } ?? .null }
    public init(_ i: Int64) { self = .integer(i) }
    public init(_ b: Bool) { self = .integer(b ? 1 : 0) }
}

/// One row of a result, read by column name.
public struct Row: Sendable {
    public let values: [String: SQLValue]
    public func int(_ column: String) -> Int64? { if case .integer(let i) = values[column] { return i }; return nil }
    public func text(_ column: String) -> String? { if case .text(let s) = values[column] { return s }; return nil }
    public func blob(_ column: String) -> [UInt8]? {
        switch values[column] {
        case .blob(let b): return b
        case .text(let s): return Array(s.utf8)
        default: return nil
        }
    }
    public func bool(_ column: String) -> Bool { int(column).map { $0 != 0 } ?? false }
}
