import Crypto
import Support

/// Migration 7: sealed titles and bodies written as base64 text envelopes become BLOBs
/// (`SealedBlob`). It runs in batches, each its own short transaction, so a large database is
/// converted without holding the write lock for long; both forms read at every point, so the
/// service answers correctly mid-way, and a stopped run simply goes on at the next start.
public enum EnvelopeBlobMigration {
    public struct Report: Sendable, Equatable {
        public var converted = 0
        /// Flagged as sealed but not an envelope: left as they are (they read as undecryptable).
        public var leftAsText = 0
    }

    static let tables: [(table: String, column: String, flag: String)] = [
        ("chats", "title", "title_encrypted"), ("messages", "content", "content_encrypted")
    ]

    /// Rows still in text form, per table (none on PostgreSQL, where the text form is the form).
    public static func pending(_ db: Database) throws(StorageError) -> [String: Int] {
        var out: [String: Int] = [:]
        guard db.engine == .sqlite else { return out }
        for t in tables {
            out[t.table] = Int(
                try db.queryOne("SELECT COUNT(*) AS n FROM \(t.table) WHERE \(t.flag) != 0 AND typeof(\(t.column)) = 'text'")?
                    .int("n") ?? 0)
        }
        return out
    }

    @discardableResult
    public static func run(_ db: Database, batch: Int = 500, progress: (String) -> Void = { _ in }) throws(StorageError) -> Report {
        var report = Report()
        let totals = try pending(db)
        for t in tables {
            let total = totals[t.table] ?? 0
            guard total > 0 else { continue }
            var afterID: Int64 = 0
            var done = 0
            while true {
                let rows = try db.query(
                    "SELECT id, \(t.column) AS value FROM \(t.table) WHERE id > ? AND \(t.flag) != 0 "
                        + "AND typeof(\(t.column)) = 'text' ORDER BY id LIMIT ?", [.integer(afterID), .integer(Int64(batch))])
                guard let last = rows.last?.int("id") else { break }
                afterID = last
                do {
                    try db.transaction {
                        for row in rows {
                            guard let id = row.int("id"), let text = row.text("value") else { continue }
                            guard let blob = SealedBlob.fromEnvelope(text) else { report.leftAsText += 1; continue }
                            // Only if unchanged since it was read: a concurrent rewrite wins.
                            report.converted += try db.run(
                                "UPDATE \(t.table) SET \(t.column) = ? WHERE id = ? AND \(t.column) = ?",
                                [.blob(blob), .integer(id), .text(text)])
                        }
                    }
                } catch let error as StorageError {
                    throw error
                } catch {
                    throw StorageError(.migration, "converting envelopes: \(error)")
                }
                done += rows.count
                progress("\(t.table): \(min(done, total))/\(total)")
            }
        }
        return report
    }
}
