import Support

/// One stored audit event, as the row holds it (details as the JSON text that was chained).
public struct AuditRow: Sendable, Equatable {
    public var id: Int64
    public var ts: Int64
    public var actorType: String
    public var actorUserID: Int64?
    public var actorEmail: String?
    public var client: String?
    public var requestID: String?
    public var action: String
    public var targetType: String?
    public var targetID: String?
    public var targetName: String?
    public var outcome: String
    public var details: String
    /// The id of the event before this one when it was written: a gap names deleted rows.
    public var prevID: Int64
    public var keyID: String
    public var mac: String

    public init(
        id: Int64, ts: Int64, actorType: String, actorUserID: Int64?, actorEmail: String?, client: String?,
        requestID: String?, action: String, targetType: String?, targetID: String?, targetName: String?,
        outcome: String, details: String, prevID: Int64, keyID: String, mac: String
    ) {
        self.id = id
        self.ts = ts
        self.actorType = actorType
        self.actorUserID = actorUserID
        self.actorEmail = actorEmail
        self.client = client
        self.requestID = requestID
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.targetName = targetName
        self.outcome = outcome
        self.details = details
        self.prevID = prevID
        self.keyID = keyID
        self.mac = mac
    }

    init?(_ row: Row) {
        guard let id = row.int("id"), let ts = row.int("ts"), let actorType = row.text("actor_type"), let action = row.text("action"),
            let outcome = row.text("outcome"), let details = row.text("details"), let prevID = row.int("prev_id"),
            let keyID = row.text("key_id"), let mac = row.text("mac")
        else { return nil }
        self.init(
            id: id, ts: ts, actorType: actorType, actorUserID: row.int("actor_user_id"), actorEmail: row.text("actor_email"),
            client: row.text("client"), requestID: row.text("request_id"), action: action, targetType: row.text("target_type"),
            targetID: row.text("target_id"), targetName: row.text("target_name"), outcome: outcome, details: details,
            prevID: prevID, keyID: keyID, mac: mac)
    }
}

/// Where the chain starts once retention dropped older events.
public struct AuditCheckpoint: Sendable, Equatable {
    public let beforeID: Int64
    public let beforeMAC: String
    public let pruned: Int64
}

/// A filter of `GET /admin/audit` and `audit export`, already validated.
public struct AuditQuery: Sendable {
    public var action: String?
    public var actorEmail: String?
    public var actorType: String?
    public var since: Int64?
    public var until: Int64?
    public var before: Int64?
    public var after: Int64?
    public var limit: Int
    public var ascending: Bool

    public init(
        action: String? = nil, actorEmail: String? = nil, actorType: String? = nil, since: Int64? = nil, until: Int64? = nil,
        before: Int64? = nil, after: Int64? = nil, limit: Int = 100, ascending: Bool = false
    ) {
        self.action = action
        self.actorEmail = actorEmail
        self.actorType = actorType
        self.since = since
        self.until = until
        self.before = before
        self.after = after
        self.limit = limit
        self.ascending = ascending
    }
}

/// The audit table: appends, reads in id order, and retention behind a checkpoint.
public struct AuditRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// The newest event's id and mac (the link the next one chains to), or the checkpoint's.
    public func head() throws(StorageError) -> (id: Int64, mac: String) {
        if let row = try db.queryOne("SELECT id, mac FROM audit_events ORDER BY id DESC LIMIT 1"),
            let id = row.int("id"), let mac = row.text("mac")
        {
            return (id, mac)
        }
        if let checkpoint = try checkpoint() { return (checkpoint.beforeID, checkpoint.beforeMAC) }
        return (0, "")
    }

    /// The advisory lock an appender holds on PostgreSQL ("CTAU").
    public static let chainLock: Int64 = 0x4354_4155

    /// The id the next row will get (AUTOINCREMENT never reuses one, even after deletions).
    public func nextID() throws(StorageError) -> Int64 {
        // PostgreSQL: ids are always given, so the newest kept id or the checkpoint is the high mark.
        let seq =
            db.engine == .postgresql
            ? try checkpoint()?.beforeID ?? 0
            : try db.queryOne("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'")?.int("seq") ?? 0
        let top = try db.queryOne("SELECT COALESCE(MAX(id), 0) AS top FROM audit_events")?.int("top") ?? 0
        return max(seq, top) + 1
    }

    /// Inserts a finished row (its id and mac computed by the caller inside the same transaction).
    public func insert(_ e: AuditRow) throws(StorageError) {
        try db.run(
            """
            INSERT INTO audit_events (id, ts, actor_type, actor_user_id, actor_email, client, request_id, action, target_type,
                target_id, target_name, outcome, details, prev_id, key_id, mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .integer(e.id), .integer(e.ts), .text(e.actorType), e.actorUserID.map(SQLValue.integer) ?? .null, SQLValue(e.actorEmail),
                SQLValue(e.client), SQLValue(e.requestID), .text(e.action), SQLValue(e.targetType), SQLValue(e.targetID),
                SQLValue(e.targetName), .text(e.outcome), .text(e.details), .integer(e.prevID), .text(e.keyID), .text(e.mac)
            ])
    }

    /// Events by the filter: newest first unless `ascending`.
    public func events(_ q: AuditQuery) throws(StorageError) -> [AuditRow] {
        var clauses: [String] = []
        var params: [SQLValue] = []
        if let action = q.action { clauses.append("action = ?"); params.append(.text(action)) }
        if let email = q.actorEmail { clauses.append("lower(actor_email) = lower(?)"); params.append(.text(email)) }
        if let type = q.actorType { clauses.append("actor_type = ?"); params.append(.text(type)) }
        if let since = q.since { clauses.append("ts >= ?"); params.append(.integer(since)) }
        if let until = q.until { clauses.append("ts <= ?"); params.append(.integer(until)) }
        if let before = q.before { clauses.append("id < ?"); params.append(.integer(before)) }
        if let after = q.after { clauses.append("id > ?"); params.append(.integer(after)) }
        let whereSQL = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        params.append(.integer(Int64(max(0, q.limit))))
        let order = q.ascending ? "ASC" : "DESC"
        return try db.query("SELECT * FROM audit_events\(whereSQL) ORDER BY id \(order) LIMIT ?", params).compactMap(AuditRow.init)
    }

    public func count() throws(StorageError) -> Int {
        Int(try db.queryOne("SELECT COUNT(*) AS n FROM audit_events")?.int("n") ?? 0)
    }

    public func checkpoint() throws(StorageError) -> AuditCheckpoint? {
        guard let row = try db.queryOne("SELECT before_id, before_mac, pruned FROM audit_checkpoint WHERE id = 1"),
            let id = row.int("before_id"), let mac = row.text("before_mac")
        else { return nil }
        return AuditCheckpoint(beforeID: id, beforeMAC: mac, pruned: row.int("pruned") ?? 0)
    }

    /// Drops events older than `cutoff` (never the newest one, which the next event chains to):
    /// the checkpoint moves first to the last dropped event, so the chain still verifies from the
    /// oldest kept event. Call inside a transaction. Returns how many were dropped.
    public func prune(olderThan cutoff: Int64) throws(StorageError) -> Int {
        guard let newest = try db.queryOne("SELECT MAX(id) AS id FROM audit_events")?.int("id"),
            let last = try db.queryOne(
                "SELECT id, mac FROM audit_events WHERE ts < ? AND id < ? ORDER BY id DESC LIMIT 1",
                [.integer(cutoff), .integer(newest)]),
            let lastID = last.int("id"), let lastMAC = last.text("mac")
        else { return 0 }
        let dropped = Int64(try db.queryOne("SELECT COUNT(*) AS n FROM audit_events WHERE id <= ?", [.integer(lastID)])?.int("n") ?? 0)
        let before = try checkpoint()?.pruned ?? 0
        try db.run(
            """
            INSERT INTO audit_checkpoint (id, before_id, before_mac, pruned, updated_at) VALUES (1, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET before_id = excluded.before_id, before_mac = excluded.before_mac,
                pruned = excluded.pruned, updated_at = excluded.updated_at
            """, [.integer(lastID), .text(lastMAC), .integer(before + dropped), .integer(Clock.now())])
        try db.run("DELETE FROM audit_events WHERE id <= ?", [.integer(lastID)])
        return Int(dropped)
    }
}
