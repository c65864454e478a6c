import Pipe
import Storage
import Support

/// `cryotensor cleanup`: the retention jobs.
public enum Retention {
    public static func run(db: Database, config: Config, progress: (String) -> Void) throws {
        let valves = try PipeValves.load(db: db, config: config)
        let days = valves.int("ARTIFACT_CLEANUP_DAYS")
        try db.transaction { try ChatRepository(db).purgeIndex() }
        progress("search index: merged (deleted chats' words removed)")
        let removed = try ArtifactStore.cleanup(db: db, days: days)
        progress("artifacts: removed \(removed) unused for \(days) days")
        let dir = PipeTurn.sessionLogDirectory(config)
        let retention = valves.int("SESSION_LOG_RETENTION_DAYS")
        let archives = SessionLog.cleanup(dir: dir, days: retention)
        progress("session logs: removed \(archives) archives older than \(retention) days under \(dir)")
    }
}
