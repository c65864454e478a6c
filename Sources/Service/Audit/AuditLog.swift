import Storage
import Support

/// The one way events enter the trail. Inside a transaction the event joins the change it
/// records (a rollback takes both); outside one it gets its own. BEGIN IMMEDIATE holds SQLite's
/// write lock, so appends from every thread and responder are serialized and chain in order.
public enum AuditLog {
    public struct Entry: Sendable {
        public var actor: AuditActor
        public var client: String?
        public var requestID: String?
        public var action: AuditAction
        public var target: AuditTarget?
        public var outcome: AuditOutcome
        public var details: [String: JSON]

        public init(
            actor: AuditActor, client: String?, requestID: String?, action: AuditAction, target: AuditTarget?,
            outcome: AuditOutcome, details: [String: JSON]
        ) {
            self.actor = actor
            self.client = client
            self.requestID = requestID
            self.action = action
            self.target = target
            self.outcome = outcome
            self.details = details
        }
    }

    @discardableResult
    public static func append(_ entry: Entry, db: Database, keys: AuditKeys, now: Int64 = Clock.now()) throws -> AuditRow {
        guard db.inTransaction else { return try db.transaction { try append(entry, db: db, keys: keys, now: now) } }
        // The chain's head is read, then extended: one appender at a time on PostgreSQL too, even
        // inside a transaction that did not take the store's lock.
        try db.lock(AuditRepository.chainLock)
        let repo = AuditRepository(db)
        let head = try repo.head()
        var row = AuditRow(
            id: try repo.nextID(), ts: now, actorType: entry.actor.kind.rawValue, actorUserID: entry.actor.userID,
            actorEmail: entry.actor.email, client: entry.client, requestID: entry.requestID,
            action: entry.action.rawValue, targetType: entry.target?.type, targetID: entry.target?.id,
            targetName: entry.target?.name, outcome: entry.outcome.rawValue,
            details: JSON.object(entry.details).serialized(), prevID: head.id, keyID: keys.currentID, mac: "")
        guard let mac = AuditChain.mac(row, previousMAC: head.mac, keys: keys) else {
            throw StorageError(.step, "audit key \(row.keyID) is not configured")
        }
        row.mac = mac
        try repo.insert(row)
        return row
    }
}

extension Scope {
    /// The actor of this scope: the signed-in user or token, else the operator or the service.
    public var auditActor: AuditActor {
        if let auth {
            return AuditActor(kind: auth.method == .token ? .token : .user, userID: auth.user.id, email: auth.user.email)
        }
        return actingAs ?? AuditActor(kind: .user)
    }

    /// Records one event for this scope's caller; call it inside the transaction of the change.
    public func audit(
        _ action: AuditAction, target: AuditTarget? = nil, outcome: AuditOutcome = .ok,
        details: [String: JSON] = [:], actor: AuditActor? = nil
    ) throws {
        let entry = AuditLog.Entry(
            actor: actor ?? auditActor, client: clientAddress, requestID: requestID, action: action, target: target,
            outcome: outcome, details: details)
        try AuditLog.append(entry, db: db, keys: services.shared.auditKeys)
    }

    /// A denied or failed action, on its own: never lets a failure to record hide the first error.
    public func auditFailure(_ action: AuditAction, target: AuditTarget? = nil, outcome: AuditOutcome, details: [String: JSON]) {
        do {
            try audit(action, target: target, outcome: outcome, details: details)
        } catch {
            Log.event(.error, "audit_write_failed", ["request_id": .string(requestID), "action": .string(action.rawValue)])
        }
    }
}
