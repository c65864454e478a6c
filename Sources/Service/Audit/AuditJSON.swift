import Storage
import Support

extension AuditRow {
    /// The event as `GET /admin/audit` and `audit export` show it (SPEC section 10's shape, plus
    /// the chain fields a SIEM can keep to check the export later).
    public var json: JSON {
        func opt(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
        let parsed = (try? JSON.parse(details)) ?? .object(["unparsable": true])
        return [
            "id": .number(Double(id)), "ts": .number(Double(ts)),
            "actor": ["type": .string(actorType), "user_id": actorUserID.map { .number(Double($0)) } ?? .null, "email": opt(actorEmail)],
            "client": opt(client), "request_id": opt(requestID), "action": .string(action),
            "target": ["type": opt(targetType), "id": opt(targetID), "name": opt(targetName)],
            "outcome": .string(outcome), "details": parsed, "prev_id": .number(Double(prevID)), "key_id": .string(keyID),
            "mac": .string(mac)
        ]
    }
}

public enum AuditReader {
    public static let maxLimit = 500

    /// A page of events, newest first, and the cursor for the next (older) page.
    public static func page(db: Database, _ query: AuditQuery) throws -> (events: [AuditRow], nextBefore: Int64?) {
        var q = query
        q.limit = min(max(1, q.limit), maxLimit)
        q.ascending = false
        let rows = try AuditRepository(db).events(q)
        return (rows, rows.count == q.limit ? rows.last?.id : nil)
    }

    /// Every event since `since` in id order, in pages, for `audit export`.
    public static func export(db: Database, since: Int64?, write: (AuditRow) -> Void) throws -> Int {
        var after: Int64 = 0
        var count = 0
        while true {
            let rows = try AuditRepository(db).events(AuditQuery(since: since, after: after, limit: 1000, ascending: true))
            guard let last = rows.last else { return count }
            rows.forEach(write)
            count += rows.count
            after = last.id
        }
    }
}
