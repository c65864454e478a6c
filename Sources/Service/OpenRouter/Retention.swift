import Pipe
import Storage
import Support

/// `cryotensor cleanup`: the retention jobs, recorded as one `retention.cleanup` event with counts.
public enum Retention {
    public struct Counts: Sendable, Equatable {
        public var auditEventsPruned = 0
        public var chatsDeleted = 0
        public var artifactsRemoved = 0
        public var sessionLogsRemoved = 0
    }

    /// `now` is a parameter so tests can move the clock.
    @discardableResult
    public static func run(_ s: Scope, now: Int64 = Clock.now(), progress: (String) -> Void) throws -> Counts {
        let db = s.db
        let config = s.config
        var counts = Counts()
        if config.chatRetentionDays > 0 {
            counts.chatsDeleted = try ChatDeletion.expire(s, before: now - Int64(config.chatRetentionDays) * 86_400)
            progress("chats: deleted \(counts.chatsDeleted) not updated for \(config.chatRetentionDays) days, with every copy")
        }
        let valves = try PipeValves.load(db: db, config: config)
        let days = valves.int("ARTIFACT_CLEANUP_DAYS")
        try db.transaction { try ChatRepository(db).purgeIndex() }
        progress("search index: merged (deleted chats' words removed)")
        counts.artifactsRemoved = try ArtifactStore.cleanup(db: db, days: days)
        progress("artifacts: removed \(counts.artifactsRemoved) unused for \(days) days")
        let dir = PipeTurn.sessionLogDirectory(config)
        let retention = valves.int("SESSION_LOG_RETENTION_DAYS")
        counts.sessionLogsRemoved = SessionLog.cleanup(dir: dir, days: retention)
        progress("session logs: removed \(counts.sessionLogsRemoved) archives older than \(retention) days under \(dir)")
        // The quota ledger is needed for today only (and yesterday, for answers that crossed midnight).
        let ledger = try QuotaRepository(db).prune(before: UTCDay.of(now - 2 * UTCDay.secondsPerDay), now: now)
        progress("quota ledger: removed \(ledger) rows of past days (usage itself is kept)")
        // The pruning and its record land together: no events vanish without the event saying so.
        try db.transaction {
            if config.auditRetentionDays > 0 {
                counts.auditEventsPruned = try AuditRepository(db).prune(olderThan: now - Int64(config.auditRetentionDays) * 86_400)
            }
            var details: [String: JSON] = [
                "audit_events_pruned": JSON(counts.auditEventsPruned), "chats_deleted": JSON(counts.chatsDeleted),
                "artifacts_removed": JSON(counts.artifactsRemoved), "session_logs_removed": JSON(counts.sessionLogsRemoved),
                "audit_retention_days": JSON(config.auditRetentionDays), "chat_retention_days": JSON(config.chatRetentionDays)
            ]
            // The chain itself attests where it now starts: a checkpoint moved by anyone else (the
            // oldest events deleted from the file) has no keyed event that vouches for it.
            if let checkpoint = try AuditRepository(db).checkpoint() {
                details["checkpoint"] = ["before_id": JSON(Int(checkpoint.beforeID)), "before_mac": .string(checkpoint.beforeMAC)]
            }
            try s.audit(.retentionCleanup, target: AuditTarget("database"), details: details)
        }
        if config.auditRetentionDays > 0 {
            progress("audit: dropped \(counts.auditEventsPruned) events older than \(config.auditRetentionDays) days (checkpoint kept)")
        }
        // Deleted rows leave the WAL once it is checkpointed into the (secure_delete) main file.
        try? db.checkpointWAL()
        return counts
    }
}
