/// The service's cache in Redis, for one thread: every key comes from `CacheKey`, and Redis
/// being absent or down is not an error for anyone.
///
/// Adopting it (one per thread, beside the SQLite connection; one `CacheHealth` per process):
///
///     let health = CacheHealth()                               // once, in the shared state
///     let cache = Cache(endpoint: config.redis, health: health) // per thread
///     cache.set(.connectionModels(id), json, ttlSeconds: 60)
///     let json = cache.get(.connectionModels(id))              // nil: absent, expired, or Redis down
///     cache.delete([.connectionModels(id)])
///     if let all = CachePattern.artifacts(pipe: "openrouter", chatID: chat) { cache.deleteMatching(all) }
///
/// Entries that steer anything (which connection serves a model, what a chat replays) go through
/// `getSigned`/`setSigned` (Cache+Signed.swift), never through `get`/`set`.
///
/// Without an endpoint every call does nothing and reads nil. A failing Redis costs a call at most
/// one short connect per retry interval (`RedisClient`); the first failure and the recovery are
/// reported once per process through `CacheHealth`.
public final class Cache {
    let client: RedisClient?
    public let health: CacheHealth

    public init(endpoint: RedisEndpoint?, health: CacheHealth, timeoutMillis: Int = 250, retryIntervalMillis: Double = 1000) {
        self.client = endpoint.map { RedisClient(endpoint: $0, timeoutMillis: timeoutMillis, retryIntervalMillis: retryIntervalMillis) }
        self.health = health
    }

    /// True when a Redis endpoint is configured (whether or not it answers now).
    public var isConfigured: Bool { client != nil }

    /// Longest time to live an entry may ask for: a cache, not a store.
    public static let maxTTLSeconds = 30 * 24 * 3600

    public func get(_ key: CacheKey) -> String? {
        command(["GET", key.name])?.string
    }

    /// Stores `value` for `ttlSeconds` (clamped to 1 s ... `maxTTLSeconds`); nothing stays forever.
    public func set(_ key: CacheKey, _ value: String, ttlSeconds: Int) {
        let ttl = min(max(ttlSeconds, 1), Self.maxTTLSeconds)
        command(["SET", key.name, value, "EX", String(ttl)])
    }

    public func delete(_ keys: [CacheKey]) {
        guard !keys.isEmpty else { return }
        command(["DEL"] + keys.map(\.name))
    }

    /// Deletes the keys matching `pattern` that `keep` accepts: SCAN in steps of 1,000, DEL in
    /// batches, at most 10,000 steps. Returns how many keys were deleted, or nil when Redis did
    /// not answer (some may have been deleted before it stopped).
    @discardableResult
    public func deleteMatching(_ pattern: CachePattern, where keep: (String) -> Bool = { _ in true }) -> Int? {
        guard client != nil else { return nil }
        var cursor = "0"
        var deleted = 0
        for _ in 0..<10_000 {
            guard case .array(let parts)? = command(["SCAN", cursor, "MATCH", pattern.glob, "COUNT", "1000"]),
                parts.count == 2, let next = parts[0].string, case .array(let found) = parts[1]
            else { return nil }
            let names = found.compactMap(\.string).filter(keep)
            var start = 0
            while start < names.count {
                let batch = names[start..<min(start + 500, names.count)]
                guard let removed = command(["DEL"] + batch)?.integer else { return nil }
                deleted += Int(removed)
                start += batch.count
            }
            cursor = next
            if cursor == "0" { break }
        }
        return deleted
    }

    /// True when Redis answers PING now (and reports a change of health either way).
    public func ping() -> Bool {
        guard client != nil else { return false }
        if command(["PING"])?.string == "PONG" { return true }
        health.failed("ping failed")
        return false
    }

    /// One command, or nil when Redis is not configured, down, or answered with an error.
    /// Only a lost connection counts as Redis being down; an error reply (a wrong type) does not.
    @discardableResult
    func command(_ args: [String]) -> RedisReply? {
        guard let client else { return nil }
        do {
            let reply = try client.command(args)
            health.answered()
            return reply
        } catch {
            if client.context == nil { health.failed(error.message) } else { health.answered() }
            return nil
        }
    }
}
