import CPostgres
import Foundation

/// A value bound to a statement parameter. Sent in text form, except bytes (binary), so no value
/// is ever spliced into SQL.
public enum PGValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case bytes([UInt8])
}

/// One result row, in libpq's text form, read by column name.
public struct PGRow: Sendable {
    let columns: [String: Int]
    let values: [String?]

    public func text(_ column: String) -> String? { columns[column].flatMap { values[$0] } }
    public func int(_ column: String) -> Int64? { text(column).flatMap { Int64($0) } }
    public func bool(_ column: String) -> Bool? { text(column).map { $0 == "t" } }
    /// A `bytea` column (libpq's hex output form `\x…`).
    public func bytes(_ column: String) -> [UInt8]? {
        guard let hex = text(column), hex.hasPrefix("\\x") else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity((hex.utf8.count - 2) / 2)
        var high: UInt8? = nil
        for c in hex.utf8.dropFirst(2) {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: return nil
            }
            if let h = high { out.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return high == nil ? out : nil
    }
}

/// One libpq connection, used by one thread at a time (libpq connections are not shared).
public final class PostgresConnection {
    let connection: OpaquePointer

    public init(url: PostgresURL) throws(PostgresError) {
        guard let made = PQconnectdb(url.raw) else { throw PostgresError(.connection, "out of memory") }
        guard PQstatus(made) == CONNECTION_OK else {
            let why = String(cString: PQerrorMessage(made)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(made)
            throw PostgresError(.connection, "cannot connect to \(url.masked): \(why)")
        }
        connection = made
        // Notices ("relation already exists, skipping") would go to stderr; nothing in them is needed.
        PQsetNoticeProcessor(made, { _, _ in }, nil)
    }

    deinit { PQfinish(connection) }

    /// Runs one statement with its parameters and returns its rows.
    @discardableResult
    public func execute(_ sql: String, _ params: [PGValue] = []) throws(PostgresError) -> [PGRow] {
        let result = try send(sql, params)
        defer { PQclear(result) }
        return rows(of: result)
    }

    /// Runs one statement and returns the number of rows it changed.
    @discardableResult
    public func run(_ sql: String, _ params: [PGValue] = []) throws(PostgresError) -> Int {
        let result = try send(sql, params)
        defer { PQclear(result) }
        return Int(String(cString: PQcmdTuples(result))) ?? 0
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    @discardableResult
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try run("BEGIN")
        do {
            let value = try body()
            try run("COMMIT")
            return value
        } catch {
            _ = try? run("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` holding the session-level advisory lock `key`: responders that start together
    /// wait for each other here (for migrations, one at a time).
    @discardableResult
    public func withAdvisoryLock<T>(_ key: Int64, _ body: () throws -> T) throws -> T {
        try execute("SELECT pg_advisory_lock($1)", [.integer(key)])
        defer { _ = try? execute("SELECT pg_advisory_unlock($1)", [.integer(key)]) }
        return try body()
    }

    /// Starts receiving `NOTIFY`s of `channel` (quoted by libpq: any name is safe).
    public func listen(_ channel: String) throws(PostgresError) {
        guard let quoted = PQescapeIdentifier(connection, channel, channel.utf8.count) else {
            throw PostgresError(.invalidInput, "cannot quote the channel name")
        }
        defer { PQfreemem(quoted) }
        try run("LISTEN " + String(cString: quoted))
    }

    public func notify(_ channel: String, payload: String) throws(PostgresError) {
        try execute("SELECT pg_notify($1, $2)", [.text(channel), .text(payload)])
    }

    /// The next notification, waiting at most `timeout` seconds; nil when none came.
    public func nextNotification(timeout: Double) throws(PostgresError) -> (channel: String, payload: String)? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let note = PQnotifies(connection) {
                defer { PQfreemem(note) }
                return (String(cString: note.pointee.relname), String(cString: note.pointee.extra))
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var fd = pollfd(fd: PQsocket(connection), events: Int16(POLLIN), revents: 0)
            let ready = poll(&fd, 1, Int32(min(left, 1) * 1000))
            guard ready >= 0 || errno == EINTR else { throw PostgresError(.connection, "poll failed") }
            guard PQconsumeInput(connection) == 1 else { throw lastError(nil) }
        }
    }

    public var isHealthy: Bool { PQstatus(connection) == CONNECTION_OK }

    /// Reconnects with the same options after the connection broke (prepared statements are gone).
    public func reset() { PQreset(connection) }

    func send(_ sql: String, _ params: [PGValue]) throws(PostgresError) -> OpaquePointer {
        let encoded = try Self.encode(params)
        let result: OpaquePointer? = withPointers(encoded.values) { pointers in
            PQexecParams(connection, sql, Int32(params.count), nil, pointers, encoded.lengths, encoded.formats, 0)
        }
        return try checked(result)
    }

    /// Parameters as libpq takes them: text form, except bytes (binary); the server infers types.
    static func encode(_ params: [PGValue]) throws(PostgresError) -> (values: [[CChar]?], lengths: [Int32], formats: [Int32]) {
        var texts: [[CChar]?] = []
        var formats: [Int32] = []
        var lengths: [Int32] = []
        texts.reserveCapacity(params.count)
        for value in params {
            switch value {
            case .null: texts.append(nil); formats.append(0); lengths.append(0)
            case .integer(let i): texts.append(Array(String(i).utf8CString)); formats.append(0); lengths.append(0)
            case .real(let d):
                guard d.isFinite else { throw PostgresError(.invalidInput, "a number that is not finite") }
                texts.append(Array(String(d).utf8CString)); formats.append(0); lengths.append(0)
            case .text(let s):
                // Text travels as a C string: a NUL would cut it short without a word, so it is refused.
                guard !s.utf8.contains(0) else { throw PostgresError(.invalidInput, "text with a NUL character") }
                texts.append(Array(s.utf8CString)); formats.append(0); lengths.append(0)
            case .bytes(let b):
                texts.append(b.map { CChar(bitPattern: $0) }); formats.append(1)
                guard let length = Int32(exactly: b.count) else { throw PostgresError(.invalidInput, "a value over 2 GiB") }
                lengths.append(length)
            }
        }
        return (texts, lengths, formats)
    }

    /// The result when it succeeded; otherwise the error, with the result cleared.
    func checked(_ result: OpaquePointer?) throws(PostgresError) -> OpaquePointer {
        guard let result else { throw lastError(nil) }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK: return result
        default:
            let error = lastError(result)
            PQclear(result)
            throw error
        }
    }

    // MARK: prepared statements and binary results (the store's path)

    /// Prepares `sql` as the named statement `name` on this connection.
    public func prepare(name: String, sql: String) throws(PostgresError) {
        PQclear(try checked(PQprepare(connection, name, sql, 0, nil)))
    }

    /// Runs a prepared statement; the rows come in binary form.
    public func execute(prepared name: String, _ params: [PGValue]) throws(PostgresError) -> PostgresResult {
        let encoded = try Self.encode(params)
        let result: OpaquePointer? = withPointers(encoded.values) { pointers in
            PQexecPrepared(connection, name, Int32(params.count), pointers, encoded.lengths, encoded.formats, 1)
        }
        return PostgresResult(try checked(result))
    }

    /// Runs one statement without preparing it by name; the rows come in binary form.
    public func executeBinary(_ sql: String, _ params: [PGValue]) throws(PostgresError) -> PostgresResult {
        let encoded = try Self.encode(params)
        let result: OpaquePointer? = withPointers(encoded.values) { pointers in
            PQexecParams(connection, sql, Int32(params.count), nil, pointers, encoded.lengths, encoded.formats, 1)
        }
        return PostgresResult(try checked(result))
    }

    /// Runs a script of several statements without parameters (a migration's DDL).
    public func executeScript(_ sql: String) throws(PostgresError) {
        PQclear(try checked(PQexec(connection, sql)))
    }

    /// True while a transaction is open (or failed and not yet rolled back).
    public var inTransaction: Bool {
        let status = PQtransactionStatus(connection)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    public var serverVersion: Int { Int(PQserverVersion(connection)) }

    func lastError(_ result: OpaquePointer?) -> PostgresError {
        var state: String? = nil
        var message = String(cString: PQerrorMessage(connection))
        if let result {
            if let s = PQresultErrorField(result, Int32(UInt8(ascii: "C"))) { state = String(cString: s) }
            if let m = PQresultErrorField(result, Int32(UInt8(ascii: "M"))) { message = String(cString: m) }
        }
        let kind = PQstatus(connection) == CONNECTION_OK ? PostgresError.kind(ofSQLState: state) : .connection
        return PostgresError(kind, sqlState: state, message.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func rows(of result: OpaquePointer) -> [PGRow] {
        let columnCount = PQnfields(result)
        var columns: [String: Int] = [:]
        for i in 0..<columnCount { columns[String(cString: PQfname(result, i))] = Int(i) }
        return (0..<PQntuples(result)).map { row in
            PGRow(
                columns: columns,
                values: (0..<columnCount).map { column in
                    PQgetisnull(result, row, column) == 1 ? nil : String(cString: PQgetvalue(result, row, column))
                })
        }
    }

    /// Calls `body` with C pointers to each parameter's bytes, kept alive for the call.
    func withPointers<R>(_ values: [[CChar]?], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafePointer<CChar>?] = []
        var buffers: [UnsafeMutableBufferPointer<CChar>] = []
        defer { buffers.forEach { $0.deallocate() } }
        for value in values {
            guard let value else { pointers.append(nil); continue }
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(value.count, 1))
            _ = buffer.initialize(from: value)
            buffers.append(buffer)
            pointers.append(UnsafePointer(buffer.baseAddress))
        }
        return body(pointers)
    }
}
