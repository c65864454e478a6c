/// Answers in flight when several responders share PostgreSQL (table `live_streams`): the
/// per-user limit counts every responder's rows, a stop from any responder sets `stop_requested`,
/// and each responder's heartbeat keeps its rows fresh, so the rows of one that died go stale.
public struct LiveStreamRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public enum Opening: Equatable, Sendable { case opened, tooMany, chatBusy }

    /// Registers an answer unless the user has `limit` in flight or the chat has one already.
    /// Holds the user's lock, so two responders cannot both take the last place (stale rows are
    /// not counted; the heartbeat's sweep deletes them).
    /// `closed`: ids this responder ended since its last heartbeat, removed first.
    public func open(
        id: String, responder: String, userID: Int64, chatID: Int64?, limit: Int, now: Int64, staleBefore: Int64, closed: [String]
    ) throws -> Opening {
        for gone in closed { try db.run("DELETE FROM live_streams WHERE id = ?", [.text(gone)]) }
        // One user's streams at a time, on every responder; other users' starts do not wait.
        return try db.transaction(.key(Self.userLock(userID))) {
            let count =
                try db.queryOne(
                    "SELECT COUNT(*) AS n FROM live_streams WHERE user_id = ? AND heartbeat_at >= ?",
                    [.integer(userID), .integer(staleBefore)]
                )?.int("n") ?? 0
            if count >= Int64(limit) { return .tooMany }
            if let chatID,
                try db.queryOne(
                    "SELECT id FROM live_streams WHERE chat_id = ? AND heartbeat_at >= ?", [.integer(chatID), .integer(staleBefore)])
                    != nil
            {
                return .chatBusy
            }
            if let chatID {  // a dead responder's row for this chat, not yet swept
                try db.run("DELETE FROM live_streams WHERE chat_id = ? AND heartbeat_at < ?", [.integer(chatID), .integer(staleBefore)])
            }
            try db.run(
                "INSERT INTO live_streams (id, responder, user_id, chat_id, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                [.text(id), .text(responder), .integer(userID), chatID.map(SQLValue.integer) ?? .null, .integer(now)])
            return .opened
        }
    }

    /// The advisory lock key of one user's streams ("LS" and the id).
    static func userLock(_ userID: Int64) -> Int64 { 0x4C53 << 48 | (userID & 0xFFFF_FFFF_FFFF) }

    public func close(ids: [String]) throws(StorageError) {
        for id in ids { try db.run("DELETE FROM live_streams WHERE id = ?", [.text(id)]) }
    }

    /// Keeps this responder's rows fresh; returns the ids someone asked to stop.
    public func heartbeat(responder: String, now: Int64) throws(StorageError) -> [String] {
        try db.run("UPDATE live_streams SET heartbeat_at = ? WHERE responder = ?", [.integer(now), .text(responder)])
        return try db.query("SELECT id FROM live_streams WHERE responder = ? AND stop_requested = 1", [.text(responder)])
            .compactMap { $0.text("id") }
    }

    /// Marks the chat's answer for stopping, whichever responder holds it; false when none is in flight.
    public func requestStop(chatID: Int64, userID: Int64) throws(StorageError) -> Bool {
        try db.run("UPDATE live_streams SET stop_requested = 1 WHERE chat_id = ? AND user_id = ?", [.integer(chatID), .integer(userID)]) > 0
    }

    /// Drops the rows of responders that stopped beating, and marks answers still `streaming`
    /// that no live row holds as `interrupted` (they keep what was stored). Returns that count.
    public func sweep(staleBefore: Int64) throws -> Int {
        try db.transaction {
            try db.run("DELETE FROM live_streams WHERE heartbeat_at < ?", [.integer(staleBefore)])
            return try db.run(
                """
                UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'
                  AND chat_id NOT IN (SELECT chat_id FROM live_streams WHERE chat_id IS NOT NULL)
                """)
        }
    }
}
