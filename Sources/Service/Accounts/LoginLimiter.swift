import Crypto
import Storage
import Support

/// Login rate limits: fixed 15-minute windows of attempts per account and per client, counted in
/// SQLite (Redis is a cache others may write: a limit kept there could be reset by them). An
/// attempt is counted before its password is checked, in one atomic statement, so concurrent
/// guesses cannot slip past the limit; a success gives its count back. Clients are counted per
/// IPv4 address and per IPv6 /64 (one host usually holds a whole /64). Keys carry hashes only.
package struct LoginLimiter {
    package init(context: Scope) { self.context = context }

    package static let windowSeconds: Int64 = 900
    package let context: Scope

    /// The client as counted: the IPv4 address, or the /64 of an IPv6 address.
    package static func clientKey(_ address: String) -> String {
        guard address.contains(":"), let ip = IPAddress(address.split(separator: "%").first.map(String.init) ?? address),
            ip.bytes.count == 16
        else { return address }
        // ::ffff:a.b.c.d is an IPv4 client and counts as that address.
        if ip.bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], let v4 = IPAddress(bytes: Array(ip.bytes.suffix(4))) {
            return v4.description
        }
        return Encoding.hex(Array(ip.bytes.prefix(8))) + "::/64"
    }

    package func keys(email: String) -> [(key: String, limit: Int)] {
        let account = Encoding.hex(Array(Digest.sha256("acct:" + email.lowercased()).prefix(12)))
        let client = Encoding.hex(Array(Digest.sha256("client:" + Self.clientKey(context.clientAddress)).prefix(12)))
        return [
            ("ct:rl:login:acct:" + account, context.config.loginMaxFailures),
            ("ct:rl:login:client:" + client, context.config.loginMaxFailuresPerClient)
        ]
    }

    /// A refused attempt: seconds to wait, and whether it is the first refused one of its window
    /// (the only one the audit trail records; the rest of a flood is counted, not written).
    package struct Refusal {
        package let wait: Int
        package let first: Bool
        package let limit: String
    }

    /// Counts this attempt against every limit; returns a refusal when one is over.
    /// The client is counted first and, once it is over, nothing else is: random emails from
    /// one client cannot add rows without bound. Counters of past windows are deleted.
    package func admit(email: String) throws -> Refusal? {
        let repo = RateLimitRepository(context.db)
        let wait = Int(Self.windowSeconds - Clock.now() % Self.windowSeconds) + 1
        try repo.forgetOldWindows(windowSeconds: Self.windowSeconds)
        for (index, (key, limit)) in keys(email: email).enumerated().reversed() {
            let count = try repo.increment(key: key, windowSeconds: Self.windowSeconds)
            if count > limit { return Refusal(wait: wait, first: count == limit + 1, limit: index == 0 ? "account" : "client") }
        }
        return nil
    }

    /// A correct password: the account's count starts again and the client's attempt is given back.
    package func recordSuccess(email: String) {
        let repo = RateLimitRepository(context.db)
        let all = keys(email: email)
        if let account = all.first?.key { try? repo.reset(key: account) }
        if all.count > 1 { try? repo.decrement(key: all[1].key) }
    }
}
