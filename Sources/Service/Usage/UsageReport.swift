import Storage
import Support

/// `GET /usage` and `GET /admin/usage`: tokens per UTC day, user and model.
package enum UsageReport {
    /// The longest range one request may ask for.
    package static let maxDays: Int64 = 366
    package static let maxRows = 10_000

    /// `since`/`until` as sent (both optional): a UTC day `YYYY-MM-DD`, or Unix seconds as
    /// `/admin/audit` takes them (the day they fall on). until defaults to today, since to 29 days
    /// before until. A range that is reversed or longer than `maxDays` is refused.
    package static func range(since: String?, until: String?) throws -> (String, String) {
        func day(_ text: String?, _ field: String) throws -> String? {
            guard let text else { return nil }
            if text.count <= 11, text.allSatisfy({ $0.isASCII && $0.isNumber }), let seconds = Int64(text) {
                return UTCDay.of(seconds)
            }
            guard let d = UTCDay.parse(text) else {
                throw ServiceError.invalidField(field, "'\(field)' must be a UTC day YYYY-MM-DD or Unix seconds.")
            }
            return d
        }
        let end = try day(until, "until") ?? UTCDay.today
        let start = try day(since, "since") ?? UTCDay.of(UTCDay.start(of: end) - 29 * UTCDay.secondsPerDay)
        guard start <= end else { throw ServiceError.invalidField("until", "'until' must not be before 'since'.") }
        guard UTCDay.start(of: end) - UTCDay.start(of: start) < maxDays * UTCDay.secondsPerDay else {
            throw ServiceError.invalidField("since", "At most \(maxDays) days per request.")
        }
        return (start, end)
    }

    package static func json(_ rows: [UsageRow]) -> JSON {
        .array(
            rows.map { r in
                [
                    "day": .string(r.day), "user_id": .number(Double(r.userID)), "model": .string(r.model),
                    "requests": .number(Double(r.requests)), "prompt_tokens": .number(Double(r.promptTokens)),
                    "completion_tokens": .number(Double(r.completionTokens)),
                    "estimated_requests": .number(Double(r.estimatedRequests))
                ]
            })
    }

    /// The caller's own rows, and their quota today (null when no group sets one).
    package static func own(_ s: Scope, since: String?, until: String?) throws -> JSON {
        let (start, end) = try range(since: since, until: until)
        let user = try s.user
        let rows = try UsageRepository(s.db).rows(userID: user.id, since: start, until: end, limit: maxRows)
        let quotas = QuotaRepository(s.db)
        var quota: JSON = .null
        if let limit = try quotas.effectiveQuota(userID: user.id) {
            let today = try quotas.day(userID: user.id, day: UTCDay.today)
            quota = [
                "daily_token_quota": .number(Double(limit)), "used_today": .number(Double(today.used)),
                "reserved_today": .number(Double(today.reserved)), "resets_in_seconds": .number(Double(UTCDay.secondsToMidnight()))
            ]
        }
        return ["usage": json(rows), "since": .string(start), "until": .string(end), "quota": quota]
    }

    /// Everyone's rows, or one user's (`user`: an id or an email; an unknown one is 404).
    package static func all(_ s: Scope, user: String?, since: String?, until: String?) throws -> JSON {
        let (start, end) = try range(since: since, until: until)
        var userID: Int64? = nil
        if let user {
            let users = UserRepository(s.db)
            let found = try Int64(user).flatMap { try users.find(id: $0) } ?? users.find(email: user)
            guard let found else { throw ServiceError(.notFound, "No such user.") }
            userID = found.id
        }
        let rows = try UsageRepository(s.db).rows(userID: userID, since: start, until: end, limit: maxRows)
        return ["usage": json(rows), "since": .string(start), "until": .string(end)]
    }
}
