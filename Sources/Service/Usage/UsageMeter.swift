import Storage
import Support

/// One answer's tokens: the provider's own count, or an estimate marked as such.
package struct TokenCounts: Sendable, Equatable {
    package var prompt: Int64
    package var completion: Int64
    package var estimated: Bool
    package var total: Int64 { prompt + completion }
}

/// Reading a provider's `usage` (an untrusted document): each count must be a whole number from
/// 0 to `maxTokens`, else the whole usage is ignored and the answer estimated instead, so a
/// hostile or broken provider can neither overflow a counter nor pay back a quota with a
/// negative number.
package enum ProviderUsage {
    /// More tokens than any model answers in one request; larger counts are not believed.
    package static let maxTokens: Int64 = 100_000_000

    static func count(_ value: JSON?) -> Int64? {
        guard case .number(let d)? = value, d.isFinite, d >= 0, d <= Double(maxTokens), d.rounded() == d else { return nil }
        return Int64(d)
    }

    /// Chat Completions: `{prompt_tokens, completion_tokens}`.
    package static func chat(_ usage: JSON?) -> TokenCounts? {
        guard let usage, let p = count(usage["prompt_tokens"]), let c = count(usage["completion_tokens"]) else { return nil }
        return TokenCounts(prompt: p, completion: c, estimated: false)
    }

    /// The Responses API: `{input_tokens, output_tokens}`.
    package static func responses(_ usage: JSON?) -> TokenCounts? {
        guard let usage, let p = count(usage["input_tokens"]), let c = count(usage["output_tokens"]) else { return nil }
        return TokenCounts(prompt: p, completion: c, estimated: false)
    }
}

/// The estimate used when a provider sends no usage (docs/usage.md): one token per 4 bytes of
/// UTF-8, rounded up, plus 4 tokens per message for the chat format around it. It errs high for
/// English (about 4.5 bytes per token in OpenAI's tokenizers) and low for some scripts.
package enum TokenEstimate {
    package static let bytesPerToken = 4
    package static let perMessage: Int64 = 4

    package static func tokens(bytes: Int) -> Int64 { Int64((bytes + bytesPerToken - 1) / bytesPerToken) }

    package static func prompt(_ texts: [String]) -> Int64 {
        texts.reduce(Int64(0)) { $0 + tokens(bytes: $1.utf8.count) + perMessage }
    }

    package static func prompt(bytes: Int, messages: Int) -> Int64 { tokens(bytes: bytes) + perMessage * Int64(messages) }
}

/// Counts one answer against the caller's usage and daily quota: `begin` before the provider is
/// asked (reserving against the quota when the caller has one: 429 `quota_exceeded` when it does
/// not fit), then exactly one of `finish` (the real or estimated count, recorded and settled in
/// one transaction) or `cancel` (nothing was asked: the reservation goes back).
package final class UsageMeter: @unchecked Sendable {
    package let userID: Int64
    package let model: String
    let day: String
    let reservationID: Int64?
    package let reserved: Int64
    var done = false

    init(userID: Int64, model: String, day: String, reservationID: Int64?, reserved: Int64) {
        self.userID = userID
        self.model = model
        self.day = day
        self.reservationID = reservationID
        self.reserved = reserved
    }

    /// A reservation outlives the longest answer by this much, then expires (docs/usage.md).
    package static let expiryMarginSeconds: Int64 = 120

    /// `promptEstimate`: the request's tokens as estimated (asked only when a quota applies);
    /// `completionReserve`: what one answer may take (its `max_tokens`, else the
    /// `quota_reserve_tokens` setting), reserved for each of `choices` answers; `longestSeconds`:
    /// the answer's own time limit, after which its reservation may be given back.
    package static func begin(
        _ s: Scope, model: String, promptEstimate: () throws -> Int64, completionReserve: Int64?, longestSeconds: Int64,
        choices: Int64 = 1
    ) throws -> UsageMeter {
        let user = try s.user
        let day = UTCDay.today
        let quotas = QuotaRepository(s.db)
        guard let quota = try quotas.effectiveQuota(userID: user.id) else {
            return UsageMeter(userID: user.id, model: model, day: day, reservationID: nil, reserved: 0)
        }
        var reserve = Int64(0)
        if let completionReserve { reserve = completionReserve } else { reserve = Int64(try s.services.runtimeConfig().quotaReserveTokens) }
        reserve = max(reserve, 0) &* max(choices, 1)
        // The estimate and the reserve, or what is left of the quota when less (a request is
        // refused only once nothing is left: a quota of 0 admits nothing).
        let estimate = try promptEstimate()
        let expires = Clock.now() + longestSeconds + expiryMarginSeconds
        guard
            let (id, tokens) = try quotas.reserve(
                userID: user.id, day: day, tokens: estimate + reserve, quota: quota, expiresAt: expires)
        else {
            let wait = UTCDay.secondsToMidnight()
            var e = ServiceError(
                .quotaExceeded,
                "Your daily token quota (\(quota)) is used up or taken by answers in flight; it renews at midnight UTC.")
            e.retryAfter = Int(wait)
            throw e
        }
        return UsageMeter(userID: user.id, model: model, day: day, reservationID: id, reserved: tokens)
    }

    /// Records the answer's tokens and settles the reservation on them, in one transaction.
    package func finish(_ s: Scope, _ counts: TokenCounts) {
        guard !done else { return }
        done = true
        let db = s.db
        do {
            try db.transaction {
                try UsageRepository(db).record(
                    day: day, userID: userID, model: String(model.prefix(200)), prompt: counts.prompt, completion: counts.completion,
                    estimated: counts.estimated)
                try QuotaRepository(db).settle(reservationID: reservationID, userID: userID, day: day, used: counts.total)
            }
        } catch {
            Log.event(.error, "usage_not_recorded", ["request_id": .string(s.requestID), "error": .string(String(describing: error))])
        }
    }

    /// Gives the reservation back without recording anything (the provider was never asked).
    package func cancel(_ s: Scope) {
        guard !done else { return }
        done = true
        guard let reservationID else { return }
        do {
            try QuotaRepository(s.db).settle(reservationID: reservationID, userID: userID, day: day, used: 0)
        } catch {
            Log.event(.error, "quota_not_released", ["request_id": .string(s.requestID), "error": .string(String(describing: error))])
        }
    }
}
