import Support

/// Tokens of one user, model and UTC day.
public struct UsageRow: Sendable, Equatable {
    public let day: String
    public let userID: Int64
    public let model: String
    public let requests: Int64
    public let promptTokens: Int64
    public let completionTokens: Int64
    /// Answers among `requests` whose tokens were estimated (the provider sent no usage).
    public let estimatedRequests: Int64
}

/// `usage_daily`: one row per day, user and model, added to by upserts.
public struct UsageRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// The statements that write, public so PostgresTests runs the same text on a real cluster.
    public enum SQL {
        /// day, user_id, model, prompt_tokens, completion_tokens, estimated (0/1).
        public static let record = """
            INSERT INTO usage_daily (day, user_id, model, requests, prompt_tokens, completion_tokens, estimated_requests)
            VALUES (?, ?, ?, 1, ?, ?, ?)
            ON CONFLICT (day, user_id, model) DO UPDATE SET requests = usage_daily.requests + 1,
                prompt_tokens = usage_daily.prompt_tokens + excluded.prompt_tokens,
                completion_tokens = usage_daily.completion_tokens + excluded.completion_tokens,
                estimated_requests = usage_daily.estimated_requests + excluded.estimated_requests
            """
    }

    /// Adds one answer's tokens.
    public func record(day: String, userID: Int64, model: String, prompt: Int64, completion: Int64, estimated: Bool) throws(StorageError) {
        try db.run(
            SQL.record, [.text(day), .integer(userID), .text(model), .integer(prompt), .integer(completion), .integer(estimated ? 1 : 0)])
    }

    /// Rows from `since` to `until` (days, inclusive), of one user or (nil) everyone, by day then user then model.
    public func rows(userID: Int64?, since: String, until: String, limit: Int = 10_000) throws(StorageError) -> [UsageRow] {
        var sql =
            "SELECT day, user_id, model, requests, prompt_tokens, completion_tokens, estimated_requests FROM usage_daily "
            + "WHERE day >= ? AND day <= ?"
        var params: [SQLValue] = [.text(since), .text(until)]
        if let userID {
            sql += " AND user_id = ?"
            params.append(.integer(userID))
        }
        sql += " ORDER BY day, user_id, model LIMIT ?"
        params.append(.integer(Int64(limit)))
        return try db.query(sql, params).compactMap { row in
            guard let day = row.text("day"), let user = row.int("user_id"), let model = row.text("model") else { return nil }
            return UsageRow(
                day: day, userID: user, model: model, requests: row.int("requests") ?? 0, promptTokens: row.int("prompt_tokens") ?? 0,
                completionTokens: row.int("completion_tokens") ?? 0, estimatedRequests: row.int("estimated_requests") ?? 0)
        }
    }
}

/// The daily quota ledger: `quota_days` (used and reserved tokens per user and UTC day) and the
/// reservations of answers in flight. Every change is a conditional UPDATE of one row, so it is
/// atomic on SQLite and on PostgreSQL alike (a concurrent writer waits for the row, then the
/// condition is evaluated again on what it committed).
public struct QuotaRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// Every statement of the ledger, public so PostgresTests runs the same text on a real cluster.
    public enum SQL {
        /// user_id.
        public static let effectiveQuota =
            "SELECT MAX(g.daily_token_quota) AS quota FROM groups g JOIN group_members m ON m.group_id = g.id "
            + "WHERE m.user_id = ? AND g.daily_token_quota IS NOT NULL"
        /// user_id, day.
        public static let day = "SELECT used, reserved FROM quota_days WHERE user_id = ? AND day = ?"
        /// user_id, day.
        public static let ensureDay =
            "INSERT INTO quota_days (user_id, day, used, reserved) VALUES (?, ?, 0, 0) ON CONFLICT (user_id, day) DO NOTHING"
        /// take, user_id, day, used seen, reserved seen, take, quota: the compare-and-set.
        public static let reserve =
            "UPDATE quota_days SET reserved = reserved + ? WHERE user_id = ? AND day = ? AND used = ? AND reserved = ? "
            + "AND used + reserved + ? <= ?"
        /// user_id, day, tokens, expires_at.
        public static let insertReservation =
            "INSERT INTO quota_reservations (user_id, day, tokens, expires_at) VALUES (?, ?, ?, ?) RETURNING id"
        /// id.
        public static let deleteReservation = "DELETE FROM quota_reservations WHERE id = ? RETURNING user_id, day, tokens"
        /// tokens, tokens, user_id, day.
        public static let release =
            "UPDATE quota_days SET reserved = CASE WHEN reserved > ? THEN reserved - ? ELSE 0 END WHERE user_id = ? AND day = ?"
        /// used, user_id, day.
        public static let addUsed = "UPDATE quota_days SET used = used + ? WHERE user_id = ? AND day = ?"
        /// user_id, now.
        public static let expired = "SELECT id FROM quota_reservations WHERE user_id = ? AND expires_at < ?"
    }

    /// The largest `daily_token_quota` among the user's groups; nil when none of them sets one.
    public func effectiveQuota(userID: Int64) throws(StorageError) -> Int64? {
        try db.queryOne(SQL.effectiveQuota, [.integer(userID)])?.int("quota")
    }

    public func day(userID: Int64, day: String) throws(StorageError) -> (used: Int64, reserved: Int64) {
        let row = try db.queryOne(SQL.day, [.integer(userID), .text(day)])
        return (row?.int("used") ?? 0, row?.int("reserved") ?? 0)
    }

    /// Reserves up to `tokens` of the user's `quota` for `day`: all of them when they fit beside
    /// what is used and reserved, else what is left (at least 1). Returns the reservation's id and
    /// size, or nil when nothing is left. The write is a compare-and-set on the day's row (the
    /// update names the used and reserved figures it was computed from), so two writers, in two
    /// processes or on two engines, can never both take the same room; a lost race reads again.
    public func reserve(userID: Int64, day: String, tokens: Int64, quota: Int64, expiresAt: Int64) throws(StorageError)
        -> (id: Int64, tokens: Int64)?
    {
        try atomically { () throws(StorageError) -> (id: Int64, tokens: Int64)? in
            try expire(userID: userID, now: Clock.now())
            try ensureDay(userID: userID, day: day)
            for _ in 0..<16 {
                let current = try self.day(userID: userID, day: day)
                let room = quota - current.used - current.reserved
                guard room >= 1 else { return nil }
                let take = min(max(tokens, 1), room)
                let won = try db.run(
                    SQL.reserve,
                    [
                        .integer(take), .integer(userID), .text(day), .integer(current.used), .integer(current.reserved), .integer(take),
                        .integer(quota)
                    ])
                guard won == 1 else { continue }
                guard
                    let id = try db.queryOne(
                        SQL.insertReservation, [.integer(userID), .text(day), .integer(take), .integer(expiresAt)])?.int("id")
                else { throw StorageError(.step, "reservation insert returned no id") }
                return (id, take)
            }
            throw StorageError(.busy, "the quota ledger kept changing")
        }
    }

    /// Ends a reservation (when given) and counts `used` tokens on `day`. Counting also happens
    /// for users without a quota, so a quota set during the day sees the day's use. Call inside
    /// the transaction that records the usage (or on its own).
    public func settle(reservationID: Int64?, userID: Int64, day: String, used: Int64) throws(StorageError) {
        try atomically { () throws(StorageError) in
            if let reservationID { try drop(reservationID: reservationID) }
            guard used > 0 else { return }
            try ensureDay(userID: userID, day: day)
            try db.run(SQL.addUsed, [.integer(used), .integer(userID), .text(day)])
        }
    }

    /// Gives reservations past their expiry back (a responder that died with answers in flight).
    public func expire(userID: Int64, now: Int64) throws(StorageError) {
        let stale = try db.query(SQL.expired, [.integer(userID), .integer(now)])
        for row in stale { if let id = row.int("id") { try drop(reservationID: id) } }
    }

    /// `cryotensor cleanup`: drops the ledger of days before `day` and every expired reservation
    /// (usage rows stay: they are the record). Returns the rows removed.
    public func prune(before day: String, now: Int64) throws(StorageError) -> Int {
        try atomically { () throws(StorageError) -> Int in
            let reservations = try db.run("DELETE FROM quota_reservations WHERE expires_at < ? AND day < ?", [.integer(now), .text(day)])
            return reservations + (try db.run("DELETE FROM quota_days WHERE day < ?", [.text(day)]))
        }
    }

    /// Deletes one reservation and takes its tokens off `reserved`, once (a second call finds no row).
    func drop(reservationID: Int64) throws(StorageError) {
        guard
            let row = try db.queryOne(SQL.deleteReservation, [.integer(reservationID)]),
            let user = row.int("user_id"), let day = row.text("day"), let tokens = row.int("tokens")
        else { return }
        try db.run(SQL.release, [.integer(tokens), .integer(tokens), .integer(user), .text(day)])
    }

    func ensureDay(userID: Int64, day: String) throws(StorageError) {
        try db.run(SQL.ensureDay, [.integer(userID), .text(day)])
    }

    func atomically<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        try GroupRepository(db).atomically(body)
    }
}
