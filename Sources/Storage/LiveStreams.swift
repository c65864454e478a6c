/// Answers in flight when several responders share PostgreSQL (tables `live_streams` and
/// `stream_responders`; PostgreSQL only): the per-user limit counts every live responder's rows,
/// a stop from any responder sets `stop_requested`, and each responder's heartbeat keeps its one
/// `stream_responders` row fresh, so the rows of one that died stop counting and are swept.
public struct LiveStreamRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public enum Opening: String, Equatable, Sendable { case opened, tooMany = "too_many", chatBusy = "chat_busy" }

    /// The database's clock in seconds: every responder's beat and every freshness check use it,
    /// so hosts whose clocks disagree still agree on who is alive.
    static let databaseNow = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)"

    /// Registers an answer unless the user has `limit` in flight or the chat has one already, in
    /// one round trip (`live_stream_open` holds the user's lock, so two responders cannot both take
    /// the last place). A responder silent for `staleSeconds` no longer counts.
    public func open(id: String, responder: String, userID: Int64, chatID: Int64?, limit: Int, staleSeconds: Int64)
        throws(StorageError) -> Opening
    {
        let outcome = try db.queryOne(
            "SELECT live_stream_open(?, ?, ?, ?, ?, ?) AS outcome",
            [
                .text(id), .text(responder), .integer(userID), chatID.map(SQLValue.integer) ?? .null, .integer(Int64(limit)),
                .integer(staleSeconds)
            ])
        guard let opening = outcome?.text("outcome").flatMap(Opening.init(rawValue:)) else {
            throw StorageError(.step, "live_stream_open answered \(String(describing: outcome))")
        }
        return opening
    }

    public func close(ids: [String]) throws(StorageError) {
        for id in ids { try db.run("DELETE FROM live_streams WHERE id = ?", [.text(id)]) }
    }

    /// Keeps this responder counted. `rejoined`: its row was gone (it had been silent long enough
    /// to be swept), so its answers in flight must be registered again (`register`).
    public func heartbeat(responder: String) throws(StorageError) -> (stopped: [String], rejoined: Bool) {
        let beat = try db.queryOne(
            "INSERT INTO stream_responders (id, heartbeat_at) VALUES (?, \(Self.databaseNow)) "
                + "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at RETURNING (xmax = 0) AS inserted",
            [.text(responder)])
        let stopped = try db.query("SELECT id FROM live_streams WHERE responder = ? AND stop_requested = 1", [.text(responder)])
            .compactMap { $0.text("id") }
        return (stopped, beat?.int("inserted") == 1)
    }

    /// Registers an answer already in flight again (after this responder was swept); one whose
    /// chat has since been taken by another is left out.
    public func register(id: String, responder: String, userID: Int64, chatID: Int64?) throws(StorageError) {
        try db.run(
            "INSERT INTO live_streams (id, responder, user_id, chat_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [.text(id), .text(responder), .integer(userID), chatID.map(SQLValue.integer) ?? .null])
    }

    /// Marks the chat's answer for stopping, whichever responder holds it; false when none is in flight.
    public func requestStop(chatID: Int64, userID: Int64) throws(StorageError) -> Bool {
        try db.run("UPDATE live_streams SET stop_requested = 1 WHERE chat_id = ? AND user_id = ?", [.integer(chatID), .integer(userID)]) > 0
    }

    /// Forgets responders silent for `staleSeconds` and their rows, and marks answers
    /// still `streaming` that no live row holds as `interrupted` (they keep what was stored).
    /// Returns that count.
    public func sweep(staleSeconds: Int64) throws -> Int {
        try db.transaction(.rows) {
            try db.run("DELETE FROM stream_responders WHERE heartbeat_at < \(Self.databaseNow) - ?", [.integer(staleSeconds)])
            try db.run("DELETE FROM live_streams WHERE responder NOT IN (SELECT id FROM stream_responders)")
            return try db.run(
                """
                UPDATE messages SET status = 'interrupted' WHERE status = 'streaming'
                  AND chat_id NOT IN (SELECT chat_id FROM live_streams WHERE chat_id IS NOT NULL)
                """)
        }
    }
}
