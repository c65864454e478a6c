import CSQLite
import Crypto
import Foundation
import Postgres
import Support

/// `cryotensor copy-db`: the SQLite store copied into a PostgreSQL one, rows as they are.
///
/// What is copied is driven by the source: every table of the SQLite file (not SQLite's own, not
/// FTS5's shadow tables) whose name the migrated target also has, with the columns both have.
/// Sealed values are never opened, so no key is needed: a sealed title or body kept as a BLOB on
/// SQLite (`SealedBlob`) becomes its text envelope, which is what a PostgreSQL column holds; every
/// other value keeps its bytes. Ids are kept (foreign keys and the audit chain name them), and
/// each identity sequence is moved past the highest id SQLite ever gave (AUTOINCREMENT never
/// reuses one).
///
/// Reruns: the source is read in one read transaction (a consistent snapshot), tables in the
/// order the target's foreign keys need, each in batches of one target transaction each, in id
/// order. A batch lands whole or not at all, so after an interruption the target holds a prefix of
/// every table; the `copy_db_progress` row, written before the first batch and dropped only after
/// the counts matched, marks such a target. Run again, the copy resumes: tables whose key is the
/// SQLite rowid start after the highest id already there, and every insert is keyed by the
/// primary key (`ON CONFLICT … DO UPDATE`, or `DO NOTHING` for append-only tables), so a row is
/// never there twice. A table without a primary key is copied in one transaction that first
/// empties it. `force` empties every copied table first and starts over.
public final class DatabaseCopy {
    public struct Options: Sendable {
        public var force: Bool
        /// Rows per batch (at most 60,000 parameters per statement whatever this says).
        public var batchRows: Int
        /// A batch ends early once it holds this many bytes (fetched files are large).
        public var batchBytes: Int
        public init(force: Bool = false, batchRows: Int = 500, batchBytes: Int = 8 << 20) {
            self.force = force
            self.batchRows = max(1, batchRows)
            self.batchBytes = max(1, batchBytes)
        }
    }

    public struct TableCount: Sendable, Equatable {
        public let table: String
        public let source: Int64
        public let target: Int64
        public var matches: Bool { source == target }
    }

    public struct Report: Sendable {
        public var tables: [TableCount] = []
        /// Rows sent in this run (a resumed run skips what an earlier one committed).
        public var rowsSent: Int64 = 0
        public var seconds: Double = 0
        public var resumed = false
        public var forced = false
        public var allMatch: Bool { tables.allSatisfy(\.matches) }
        public var sourceRows: Int64 { tables.reduce(0) { $0 + $1.source } }
    }

    /// Why a copy did not start or did not finish. Never holds a value from a row.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let message: String
        /// The target already holds rows (exit 1, `--force` overrides).
        public let targetHoldsData: Bool
        init(_ message: String, targetHoldsData: Bool = false) {
            self.message = message
            self.targetHoldsData = targetHoldsData
        }
        public var description: String { message }
    }

    /// Tables the migrations themselves write rows into: their rows do not make a target "in use".
    static let bookkeeping: Set<String> = ["schema_migrations", "meta"]
    /// Tables whose rows are never updated (a trigger refuses it): a rerun skips rows already there.
    static let appendOnly: Set<String> = ["audit_events"]
    static let markerTable = "copy_db_progress"
    static let maxParameters = 60_000

    let source: Database
    let target: Database
    let options: Options
    let createTable: (String) throws -> Bool
    let progress: (String) -> Void

    /// `createTable` makes a table the target's migrations do not (the pipe's per-key artifact
    /// tables, made on demand) and answers whether it knew the name.
    public init(
        source: Database, target: Database, options: Options = Options(), createTable: @escaping (String) throws -> Bool = { _ in false },
        progress: @escaping (String) -> Void = { _ in }
    ) {
        self.source = source
        self.target = target
        self.options = options
        self.createTable = createTable
        self.progress = progress
    }

    // MARK: the plan

    enum Kind { case integer, text, bytes, other }

    struct Plan {
        let table: String
        /// Source expressions, in the order of `columns`.
        var select: [String] = []
        /// Target columns fed by `select`.
        var columns: [String] = []
        var types: [String] = []
        var kinds: [Kind] = []
        /// Column index → index of its `<name>_encrypted` flag: a BLOB there is a sealed value.
        var sealedFlag: [Int: Int] = [:]
        /// The source has rowids: read in rowid order, and resume after the target's highest key.
        var hasRowid = true
        /// The target column that holds the source's rowid (an INTEGER PRIMARY KEY, or FTS5's rowid).
        var rowidColumn: String?
        var primaryKey: [String] = []
        var identity: [String] = []
        var overriding = false
    }

    static func quoted(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }

    static func kind(ofPostgresType type: String) -> Kind {
        switch type {
        case "bigint", "integer", "smallint": .integer
        case "text", "name": .text
        case "bytea": .bytes
        default: type.hasPrefix("character") ? .text : .other
        }
    }

    /// The source's tables: ordinary and virtual ones (FTS5's shadow tables and SQLite's own left out).
    func sourceTables() throws -> [(name: String, virtual: Bool, withoutRowid: Bool)] {
        try source.query(
            "SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') ORDER BY name"
        ).compactMap { row in
            guard let name = row.text("name"), !name.hasPrefix("sqlite_") else { return nil }
            return (name, row.text("type") == "virtual", row.int("wr") == 1)
        }
    }

    func targetTables() throws -> Set<String> {
        Set(
            try target.query(
                """
                SELECT c.relname::text AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
                """
            ).compactMap { $0.text("name") })
    }

    func plan(_ table: (name: String, virtual: Bool, withoutRowid: Bool)) throws -> Plan {
        var plan = Plan(table: table.name)
        let targetColumns = try target.query(
            """
            SELECT a.attname::text AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attidentity::text AS identity,
                a.attgenerated::text AS generated
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relname = ? AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
            """, [.text(table.name)])
        var byName: [String: Row] = [:]
        for column in targetColumns { if let name = column.text("name") { byName[name] = column } }
        plan.primaryKey = try target.query(
            """
            SELECT a.attname::text AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey)
            WHERE i.indisprimary AND n.nspname = current_schema() AND c.relname = ?
            """, [.text(table.name)]
        ).compactMap { $0.text("name") }
        plan.identity = targetColumns.filter { ($0.text("identity") ?? "") != "" }.compactMap { $0.text("name") }
        plan.overriding = targetColumns.contains { $0.text("identity") == "a" }
        plan.hasRowid = !table.withoutRowid

        func add(_ expression: String, as column: String) {
            plan.select.append(expression)
            plan.columns.append(column)
            let type = byName[column]?.text("type") ?? "text"
            plan.types.append(type)
            plan.kinds.append(Self.kind(ofPostgresType: type))
        }
        let sourceColumns = try source.query("SELECT name, type, pk FROM pragma_table_info(?)", [.text(table.name)])
        let keyColumns = sourceColumns.filter { ($0.int("pk") ?? 0) > 0 }
        for column in sourceColumns {
            guard let name = column.text("name") else { continue }
            guard let there = byName[name], (there.text("generated") ?? "") == "" else {
                throw Failure("\(table.name).\(name) has no column in the PostgreSQL target: its values would be lost")
            }
            add(Self.quoted(name), as: name)
            // An INTEGER PRIMARY KEY is the rowid itself.
            if keyColumns.count == 1, column.int("pk") == 1, (column.text("type") ?? "").uppercased() == "INTEGER", !table.withoutRowid {
                plan.rowidColumn = name
            }
        }
        // FTS5 rows (the search index) have only a rowid; the target keeps it as its identity id.
        if table.virtual, plan.rowidColumn == nil, !plan.columns.contains("id"), plan.identity.contains("id") {
            add("rowid", as: "id")
            plan.rowidColumn = "id"
        }
        for (index, column) in plan.columns.enumerated() where plan.kinds[index] == .text {
            if let flag = plan.columns.firstIndex(of: column + "_encrypted") { plan.sealedFlag[index] = flag }
        }
        return plan
    }

    /// Parents before children, by the target's foreign keys; otherwise by name.
    func ordered(_ plans: [Plan]) throws -> [Plan] {
        let edges = try target.query(
            """
            SELECT c.relname::text AS child, p.relname::text AS parent FROM pg_constraint k
            JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE k.contype = 'f' AND n.nspname = current_schema()
            """)
        var parents: [String: Set<String>] = [:]
        for edge in edges {
            guard let child = edge.text("child"), let parent = edge.text("parent"), child != parent else { continue }
            parents[child, default: []].insert(parent)
        }
        let names = Set(plans.map(\.table))
        var done: Set<String> = []
        var out: [Plan] = []
        var left = plans
        while !left.isEmpty {
            let ready = left.firstIndex { plan in (parents[plan.table] ?? []).allSatisfy { done.contains($0) || !names.contains($0) } }
            let next = left.remove(at: ready ?? 0)  // a cycle: take the first, its inserts will name the problem
            done.insert(next.table)
            out.append(next)
        }
        return out
    }

    // MARK: running

    public func run() throws -> Report {
        guard source.engine == .sqlite, target.engine == .postgresql else {
            throw Failure("copy-db copies a SQLite database into a PostgreSQL one")
        }
        let started = Date()
        var report = Report()
        progress("migrating the target to schema \(Migrations.latest)")
        try Migrations.apply(target)
        let sourceVersion = try Migrations.currentVersion(source)
        let targetVersion = try Migrations.currentVersion(target)
        guard sourceVersion == targetVersion else {
            throw Failure("the source is at schema \(sourceVersion), the target at \(targetVersion): migrate the source first")
        }

        // One snapshot of the source for the whole copy: counts and rows agree with each other.
        try source.execute("BEGIN")
        defer { try? source.execute("COMMIT") }

        let present = try targetTables()
        var plans: [Plan] = []
        for table in try sourceTables() {
            if !present.contains(table.name) {
                guard try createTable(table.name) else {
                    throw Failure("the source's table \(table.name) has no PostgreSQL form: nothing was copied")
                }
            }
            plans.append(try plan(table))
        }
        plans = try ordered(plans)

        (report.resumed, report.forced) = try claim(plans)
        var sequences: [String: Int64] = [:]
        for row in try source.query("SELECT name, seq FROM sqlite_sequence") {
            if let name = row.text("name"), let seq = row.int("seq") { sequences[name] = seq }
        }
        for plan in plans {
            report.rowsSent += try copy(plan, resuming: report.resumed)
            try moveSequences(plan, sqliteSequence: sequences[plan.table] ?? 0)
        }
        for plan in plans {
            let quoted = Self.quoted(plan.table)
            let sourceCount = try source.queryOne("SELECT COUNT(*) AS n FROM \(quoted)")?.int("n") ?? -1
            let targetCount = try target.queryOne("SELECT COUNT(*) AS n FROM \(quoted)")?.int("n") ?? -1
            report.tables.append(TableCount(table: plan.table, source: sourceCount, target: targetCount))
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Marks the target as being copied into, after checking it may be: empty, or holding an
    /// interrupted copy of this same source, or `force` (every copied table emptied first).
    /// Returns (resumed, forced).
    func claim(_ plans: [Plan]) throws -> (Bool, Bool) {
        // The file's absolute path: a rerun from another directory is still the same source.
        let sourceName = URL(fileURLWithPath: source.path).standardizedFileURL.path
        if options.force {
            let tables = plans.map(\.table).filter { $0 != "schema_migrations" }.map(Self.quoted)
            try target.transaction {
                if !tables.isEmpty { try target.execute("TRUNCATE TABLE \(tables.joined(separator: ", ")) RESTART IDENTITY CASCADE") }
                try mark(sourceName)
            }
            progress("--force: emptied \(tables.count) tables of the target")
            return (false, true)
        }
        let marked = try target.queryOne("SELECT to_regclass(?)::text AS name", [.text(Self.quoted(Self.markerTable))])?.text("name") != nil
        if marked, let earlier = try target.queryOne("SELECT source FROM \(Self.quoted(Self.markerTable)) WHERE id = 1")?.text("source") {
            guard earlier == sourceName else {
                throw Failure(
                    "the target holds an unfinished copy of \(earlier), not of \(sourceName): use --force to empty it and start over",
                    targetHoldsData: true)
            }
            progress("resuming the unfinished copy of \(sourceName)")
            return (true, false)
        }
        var used: [String] = []
        for plan in plans where !Self.bookkeeping.contains(plan.table) {
            if try target.queryOne("SELECT EXISTS (SELECT 1 FROM \(Self.quoted(plan.table))) AS used")?.int("used") == 1 {
                used.append(plan.table)
            }
        }
        guard used.isEmpty else {
            throw Failure(
                "the target already holds data (\(used.joined(separator: ", "))): refusing to copy into it; "
                    + "--force empties every copied table first", targetHoldsData: true)
        }
        try target.transaction { try mark(sourceName) }
        return (false, false)
    }

    func mark(_ sourceName: String) throws {
        try target.execute(
            "CREATE TABLE IF NOT EXISTS \(Self.quoted(Self.markerTable)) (id BIGINT PRIMARY KEY CHECK (id = 1), source TEXT NOT NULL, "
                + "started_at BIGINT NOT NULL)")
        try target.run(
            "INSERT INTO \(Self.quoted(Self.markerTable)) (id, source, started_at) VALUES (1, ?, ?) "
                + "ON CONFLICT (id) DO UPDATE SET source = excluded.source, started_at = excluded.started_at",
            [.text(sourceName), .integer(Clock.now())])
    }

    /// Ends a copy whose counts matched: the target no longer reads as an unfinished copy. Call it
    /// in the transaction that records the copy in the audit trail.
    public static func finish(_ target: Database) throws {
        try target.execute("DROP TABLE IF EXISTS \(quoted(markerTable))")
    }

    /// Copies one table; returns the rows sent.
    func copy(_ plan: Plan, resuming: Bool) throws -> Int64 {
        guard case .postgres(let store) = target.backend else { throw Failure("the target is not PostgreSQL") }
        let connection = store.connection
        let table = Self.quoted(plan.table)
        let total = try source.queryOne("SELECT COUNT(*) AS n FROM \(table)")?.int("n") ?? 0
        let keyed = !plan.primaryKey.isEmpty && plan.primaryKey.allSatisfy(plan.columns.contains)
        var after = Int64.min
        if resuming, keyed, let key = plan.rowidColumn, plan.primaryKey == [key] {
            after = try target.queryOne("SELECT MAX(\(Self.quoted(key))) AS top FROM \(table)")?.int("top") ?? Int64.min
        }
        var already: Int64 = 0
        if after != Int64.min {
            already = try source.queryOne("SELECT COUNT(*) AS n FROM \(table) WHERE rowid <= ?", [.integer(after)])?.int("n") ?? 0
        }
        var sql = "SELECT \(plan.select.joined(separator: ", "))"
        if plan.hasRowid { sql += ", rowid FROM \(table) WHERE rowid > ? ORDER BY rowid" } else { sql += " FROM \(table)" }

        let perRow = plan.columns.count
        let cap = max(1, min(options.batchRows, Self.maxParameters / max(perRow, 1)))
        let conflict = conflictClause(plan, keyed: keyed)
        var statements: [Int: String] = [:]
        func insertSQL(_ rows: Int) -> String {
            if let made = statements[rows] { return made }
            var out = "INSERT INTO \(table) (\(plan.columns.map(Self.quoted).joined(separator: ", ")))"
            if plan.overriding { out += " OVERRIDING SYSTEM VALUE" }
            out += " VALUES "
            var n = 0
            for row in 0..<rows {
                if row > 0 { out += ", " }
                out += "("
                for column in 0..<perRow {
                    n += 1
                    out += (column > 0 ? ", $" : "$") + String(n) + "::" + plan.types[column]
                }
                out += ")"
            }
            out += conflict
            statements[rows] = out
            return out
        }

        var values: [PGValue] = []
        values.reserveCapacity(cap * perRow)
        var rows = 0
        var bytes = 0
        var sent: Int64 = 0
        var lastRowid: Int64 = after
        var lastShown = Date.distantPast
        var shownCount: Int64 = -1
        let name = plan.table
        func show(force: Bool) {
            let now = Date()
            guard force || now.timeIntervalSince(lastShown) >= 1, shownCount != already + sent else { return }
            lastShown = now
            shownCount = already + sent
            progress("\(name): \(already + sent)/\(total)" + (already > 0 ? " (\(already) there before)" : ""))
        }
        func flush() throws {
            guard rows > 0 else { return }
            let statement = insertSQL(rows)
            let batch = values
            func write() throws {
                do {
                    _ = try connection.executeBinary(statement, batch)
                } catch {
                    throw Failure("\(name): a batch of rows up to rowid \(lastRowid) was refused: \(error.description)")
                }
            }
            if keyed { try target.transaction { try write() } } else { try write() }
            sent += Int64(rows)
            let first = sent == Int64(rows)
            values.removeAll(keepingCapacity: true)
            rows = 0
            bytes = 0
            show(force: first)
        }
        let body = { () throws in
            try self.source.each(sql, plan.hasRowid ? [.integer(after)] : []) { columns in
                guard case .sqlite(let statement) = columns.source else { return }
                let rowid = plan.hasRowid ? sqlite3_column_int64(statement, Int32(perRow)) : 0
                lastRowid = rowid
                for index in 0..<perRow {
                    let value = try Self.value(statement, Int32(index), plan: plan, index: index, rowid: rowid)
                    bytes += value.size
                    values.append(value.value)
                }
                rows += 1
                if rows >= cap || bytes >= self.options.batchBytes { try flush() }
            }
            try flush()
        }
        if keyed {
            try body()
        } else {
            // No primary key to resume by: the whole table in one transaction that empties it first.
            try target.transaction {
                try target.execute("DELETE FROM \(table)")
                try body()
            }
        }
        show(force: true)
        return sent
    }

    func conflictClause(_ plan: Plan, keyed: Bool) -> String {
        guard keyed else { return "" }
        let key = plan.primaryKey.map(Self.quoted).joined(separator: ", ")
        let others = plan.columns.filter { !plan.primaryKey.contains($0) }
        if Self.appendOnly.contains(plan.table) || others.isEmpty { return " ON CONFLICT (\(key)) DO NOTHING" }
        return " ON CONFLICT (\(key)) DO UPDATE SET "
            + others.map { "\(Self.quoted($0)) = EXCLUDED.\(Self.quoted($0))" }.joined(separator: ", ")
    }

    /// One source value as the target column takes it, and its size for batching.
    static func value(_ s: OpaquePointer, _ i: Int32, plan: Plan, index: Int, rowid: Int64) throws -> (value: PGValue, size: Int) {
        let kind = plan.kinds[index]
        func refuse(_ why: String) -> Failure {
            Failure("\(plan.table) row \(rowid), column \(plan.columns[index]): \(why)")
        }
        func text() throws -> String {
            let bytes = SQLiteColumns.text(s, i)
            guard let string = String(validating: bytes, as: UTF8.self) else { throw refuse("text that is not UTF-8") }
            guard !bytes.contains(0) else { throw refuse("text with a NUL character, which PostgreSQL cannot hold") }
            return string
        }
        switch sqlite3_column_type(s, i) {
        case SQLITE_NULL:
            return (.null, 1)
        case SQLITE_INTEGER:
            let v = sqlite3_column_int64(s, i)
            switch kind {
            case .bytes: throw refuse("an integer where PostgreSQL expects bytes")
            case .text: return (.text(String(v)), 8)
            case .integer, .other: return (.integer(v), 8)
            }
        case SQLITE_FLOAT:
            let v = sqlite3_column_double(s, i)
            switch kind {
            case .integer:
                guard let exact = Int64(exactly: v) else { throw refuse("a fraction where PostgreSQL expects an integer") }
                return (.integer(exact), 8)
            case .bytes: throw refuse("a number where PostgreSQL expects bytes")
            case .text: return (.text(String(v)), 8)
            case .other: return (.real(v), 8)
            }
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(s, i))
            switch kind {
            case .bytes: return (.bytes(Array(SQLiteColumns.text(s, i))), count)
            case .integer:
                guard let v = Int64(try text()) else { throw refuse("text where PostgreSQL expects an integer") }
                return (.integer(v), 8)
            case .text, .other: return (.text(try text()), count)
            }
        default:  // BLOB
            let blob = Array(SQLiteColumns.blob(s, i))
            switch kind {
            case .bytes, .other: return (.bytes(blob), blob.count)
            case .integer: throw refuse("bytes where PostgreSQL expects an integer")
            case .text:
                // A sealed title or body: SQLite keeps the envelope's bytes, PostgreSQL its text form.
                if let flag = plan.sealedFlag[index], sqlite3_column_int64(s, Int32(flag)) == 1 {
                    guard let envelope = SealedBlob.envelope(blob) else { throw refuse("a sealed value that is not a sealed blob") }
                    return (.text(envelope), envelope.utf8.count)
                }
                guard let string = String(validating: blob, as: UTF8.self), !blob.contains(0) else {
                    throw refuse("bytes where PostgreSQL expects text")
                }
                return (.text(string), blob.count)
            }
        }
    }

    /// Moves each identity sequence past the highest id: the target's, or SQLite's AUTOINCREMENT
    /// counter (higher when the newest rows were deleted), so no id is ever given twice.
    func moveSequences(_ plan: Plan, sqliteSequence: Int64) throws {
        for column in plan.identity {
            let top = try target.queryOne("SELECT MAX(\(Self.quoted(column))) AS top FROM \(Self.quoted(plan.table))")?.int("top") ?? 0
            let high = max(top, column == plan.rowidColumn ? sqliteSequence : 0)
            guard high > 0 else { continue }
            try target.run(
                "SELECT setval(pg_get_serial_sequence(?, ?)::regclass, ?)",
                [.text(Self.quoted(plan.table)), .text(column), .integer(high)])
        }
    }
}
