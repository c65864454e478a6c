import Crypto
import Foundation
import Pipe
import Postgres
import Service
import Storage
import Support

/// `cryotensor copy-db --to postgresql://… [--force] [--batch-rows N]`: the configured SQLite
/// database copied into a PostgreSQL one (Storage/DatabaseCopy.swift), then recorded in the
/// target's audit trail. No key is needed: sealed values are copied as they are.
extension Commands {
    static let copyDBUsage = "usage: cryotensor copy-db --to postgresql://USER[:PASSWORD]@HOST/DATABASE [--force] [--batch-rows N]"

    /// The only settings copy-db reads: others (ENABLE_LOCAL_ENCRYPTION without its key, say)
    /// must not stop a copy that needs none of them.
    static let copyDBSettings: Set<String> = ["CRYOTENSOR_DB", "DATABASE_URL", "CONFIG_ENCRYPTION_KEY", "CONFIG_ENCRYPTION_KEY_PREVIOUS"]

    static func copyDB(_ args: [String], environment: [String: String]) -> Int32 {
        guard let parsed = options(args, flags: ["--force"]), parsed.positional.isEmpty,
            Set(parsed.values.keys).isSubset(of: ["--to", "--force", "--batch-rows"]), let raw = parsed.values["--to"]
        else {
            return fail(copyDBUsage, code: 2)
        }
        var copyOptions = DatabaseCopy.Options(force: parsed.values["--force"] != nil)
        if let text = parsed.values["--batch-rows"] {
            guard let rows = Int(text), (1...10_000).contains(rows) else {
                return fail("--batch-rows must be a number from 1 to 10000", code: 2)
            }
            copyOptions.batchRows = rows
        }
        let url: PostgresURL
        switch PostgresURL.parse(raw) {
        case .success(let parsed): url = parsed
        case .failure(let problem): return fail("--to: \(problem)", code: 2)  // an unparsed URL may hide its password from the masker
        }
        guard let config = loadConfig(environment.filter { copyDBSettings.contains($0.key) }) else { return 2 }
        if let configured = config.databaseURL {
            return fail(
                "copy-db copies the SQLite database (CRYOTENSOR_DB), but DATABASE_URL is set (\(configured.masked)): unset it for the copy")
        }
        guard FileManager.default.fileExists(atPath: config.databasePath) else {
            return fail("no SQLite database at \(config.databasePath) (CRYOTENSOR_DB)")
        }
        guard let source = openDatabase(config) else { return 1 }
        let target: Database
        do {
            target = try Database(.postgresql(url))
        } catch {
            return fail("copy-db: \(error)")
        }
        func note(_ line: String) { FileHandle.standardError.write(Data(("copy-db: " + line + "\n").utf8)) }
        note("from \(config.databasePath) to \(url.masked)")
        let copy = DatabaseCopy(
            source: source, target: target, options: copyOptions,
            createTable: { name in try ArtifactStore.createTable(named: name, in: target) }, progress: note)
        let report: DatabaseCopy.Report
        do {
            report = try copy.run()
        } catch let failure as DatabaseCopy.Failure {
            return fail("copy-db: \(failure.message)")
        } catch {
            return fail("copy-db: \(error)")
        }

        let width = max(5, report.tables.map(\.table.utf8.count).max() ?? 0)
        func padded(_ s: String) -> String { s + String(repeating: " ", count: max(0, width - s.utf8.count)) }
        print("\(padded("table"))  source  target")
        for t in report.tables { print("\(padded(t.table))  \(t.source)  \(t.target)\(t.matches ? "" : "  MISMATCH")") }
        let rate = report.seconds > 0 ? Int(Double(report.rowsSent) / report.seconds) : 0
        note(
            "\(report.rowsSent) rows sent in \(String(format: "%.1f", report.seconds)) s (\(rate) rows/s)"
                + (report.resumed ? ", resuming an unfinished copy" : ""))
        guard report.allMatch else {
            let differing = report.tables.filter { !$0.matches }.map(\.table).joined(separator: ", ")
            return fail(
                "copy-db: row counts differ in \(differing): was the source written to during the copy? "
                    + "Stop the service and run copy-db again (--force to start over)")
        }

        do {
            try record(report, config: config, target: target, url: url, note: note)
        } catch {
            return fail("copy-db: the rows were copied and verified, but finishing failed: \(error)")
        }
        print("copy-db: \(report.tables.count) tables, \(report.sourceRows) rows: every count matches")
        return 0
    }

    /// Drops the unfinished-copy mark and records the copy in the target's audit trail, in one
    /// transaction. The chain continues from the copied events (same ids, same MACs); a keyless
    /// event after keyed ones, or one made with a key the trail does not know, would read as
    /// forged, so then the event is left out and said so.
    static func record(
        _ report: DatabaseCopy.Report, config: Config, target: Database, url: PostgresURL, note: (String) -> Void
    ) throws {
        let keys = AuditKeys(config: config)
        let newest = try AuditRepository(target).events(AuditQuery(limit: 1)).first
        var skip: String? = nil
        if let newest, newest.keyID != AuditKeys.keylessID {
            if config.encryptionKey == nil {
                skip = "the trail's events are keyed and CONFIG_ENCRYPTION_KEY is not set"
            } else if !([config.encryptionKey] + config.previousEncryptionKeys).compactMap({ $0.map { Keyring.keyID($0.reveal()) } })
                .contains(newest.keyID)
            {
                skip =
                    "the trail's newest event was made with key \(newest.keyID), which is neither CONFIG_ENCRYPTION_KEY nor a previous key"
            }
        }
        let entry = AuditLog.Entry(
            actor: .operator, client: "local uid \(getuid())", requestID: "cli-" + Encoding.hex(Crypto.Random.bytes(8)),
            action: .databaseCopy, target: AuditTarget("database", name: url.masked), outcome: .ok,
            details: [
                "source": .string(config.databasePath), "tables": JSON(report.tables.count), "rows": JSON(Int(report.sourceRows)),
                "resumed": .bool(report.resumed), "forced": .bool(report.forced)
            ])
        try target.transaction {
            try DatabaseCopy.finish(target)
            if skip == nil { try AuditLog.append(entry, db: target, keys: keys) }
        }
        if let skip { note("the copy is not recorded in the audit trail: \(skip)") }
    }
}
