import Postgres

/// The PostgreSQL engine behind `Database`: one libpq connection, statements prepared once per
/// connection by their SQL text, results read in binary form. A connection that broke (a server
/// restart, a failover) is reset before the next statement.
final class PostgresStore {
    let connection: PostgresConnection
    /// Prepared statement names by the SQL text the repositories wrote.
    var statements: [String: String] = [:]
    static let cachedStatementLimit = 256

    /// Advisory lock keys ("CTWR", "CTMG"): one writer at a time across every responder, as
    /// SQLite has; one migrating responder at a time.
    static let writeLock: Int64 = 0x4354_5752
    static let migrationLock: Int64 = 0x4354_4D47

    init(url: PostgresURL) throws(StorageError) {
        do {
            connection = try PostgresConnection(url: url)
        } catch {
            throw StorageError(.open, error.message)
        }
    }

    static func storageError(_ error: PostgresError) -> StorageError {
        switch error.kind {
        case .constraint: StorageError(.constraint, error.description)
        case .retry, .connection: StorageError(.busy, error.description)
        case .invalidInput: StorageError(.invalidValue, error.description)
        case .other: StorageError(.step, error.description)
        }
    }

    static func value(_ v: SQLValue) -> PGValue {
        switch v {
        case .null: .null
        case .integer(let i): .integer(i)
        case .real(let d): .real(d)
        case .text(let s): .text(s)
        case .blob(let b): .bytes(b)
        }
    }

    /// Before a statement outside a transaction: a broken connection is reset (its prepared
    /// statements went with it).
    func ready() {
        guard !connection.isHealthy, !connection.inTransaction else { return }
        connection.reset()
        statements.removeAll()
    }

    func result(_ sql: String, _ params: [SQLValue]) throws(StorageError) -> PostgresResult {
        ready()
        let values = params.map(Self.value)
        do {
            if let name = statements[sql] { return try connection.execute(prepared: name, values) }
            let numbered = PostgresSQL.numbered(sql)
            guard statements.count < Self.cachedStatementLimit else { return try connection.executeBinary(numbered, values) }
            let name = "ct\(statements.count + 1)"
            try connection.prepare(name: name, sql: numbered)
            statements[sql] = name
            return try connection.execute(prepared: name, values)
        } catch {
            throw Self.storageError(error)
        }
    }

    func execute(_ sql: String) throws(StorageError) {
        ready()
        do { try connection.executeScript(sql) } catch { throw Self.storageError(error) }
    }

    func run(_ sql: String, _ params: [SQLValue]) throws(StorageError) -> Int {
        try result(sql, params).changedRows
    }

    func query(_ sql: String, _ params: [SQLValue]) throws(StorageError) -> [Row] {
        let result = try result(sql, params)
        let names = (0..<result.columnCount).map(result.columnName)
        return (0..<result.rowCount).map { row in
            var values: [String: SQLValue] = [:]
            for column in 0..<result.columnCount { values[names[Int(column)]] = Self.read(result, row, column) }
            return Row(values: values)
        }
    }

    static func read(_ result: PostgresResult, _ row: Int32, _ column: Int32) -> SQLValue {
        if result.isNull(row, column) { return .null }
        switch result.type(column) {
        case .text: return .text(String(decoding: result.bytes(row, column), as: UTF8.self))
        case .bytea: return .blob(Array(result.bytes(row, column)))
        case .float4, .float8: return result.real(row, column).map(SQLValue.real) ?? .null
        case .numeric:
            if let i = result.integer(row, column) { return .integer(i) }
            return result.real(row, column).map(SQLValue.real) ?? .null
        default: return result.integer(row, column).map(SQLValue.integer) ?? .null
        }
    }

    func each(_ sql: String, _ params: [SQLValue], _ body: (Columns) throws -> Void) throws {
        let result = try result(sql, params)
        for row in 0..<result.rowCount { try body(Columns(.postgres(result, row))) }
    }

    var inTransaction: Bool { connection.inTransaction }

    func transaction<T>(_ lock: Database.WriteLock, _ body: () throws -> T) throws -> T {
        // A nested BEGIN would only warn, and the inner COMMIT would end the outer transaction.
        guard !connection.inTransaction else { throw StorageError(.step, "a transaction inside a transaction") }
        try execute("BEGIN")
        do {
            switch lock {
            case .store: _ = try run("SELECT pg_advisory_xact_lock(?)", [.integer(Self.writeLock)])
            case .key(let key): _ = try run("SELECT pg_advisory_xact_lock(?)", [.integer(key)])
            case .rows: break
            }
            let value = try body()
            try execute("COMMIT")
            return value
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    func withAdvisoryLock<T>(_ key: Int64, _ body: () throws -> T) throws -> T {
        ready()
        return try connection.withAdvisoryLock(key, body)
    }
}

/// The one dialect difference the store papers over: `?` placeholders become `$1`, `$2`, …
/// (outside quoted strings and identifiers).
enum PostgresSQL {
    static func numbered(_ sql: String) -> String {
        var out = ""
        out.reserveCapacity(sql.utf8.count + 16)
        var quote: Character? = nil
        var index = 0
        for c in sql {
            if let q = quote {
                if c == q { quote = nil }
                out.append(c)
            } else if c == "'" || c == "\"" {
                quote = c
                out.append(c)
            } else if c == "?" {
                index += 1
                out += "$\(index)"
            } else {
                out.append(c)
            }
        }
        return out
    }
}
