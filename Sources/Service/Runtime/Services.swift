import Cache
import Foundation
import Storage
import Support

/// Per-thread services: each worker thread owns its SQLite connection and Redis client.
public final class Services {
    public let config: Config
    public let db: Database
    /// The Redis cache (every key named by `CacheKey`); does nothing when Redis is absent or down.
    public let cache: Cache
    public let shared: SharedState
    /// This thread's copy of the runtime settings, keyed by their version.
    package var runtimeCache: (version: Int64, overrides: [String: String], config: Config)?

    public init(config: Config, shared: SharedState) throws {
        self.config = config
        self.shared = shared
        self.db = try Database(config.database)
        self.cache = Cache(endpoint: config.redis, health: shared.cacheHealth)
    }

}

/// Where a request's services come from: the accepting thread's own, or a shared pool from which
/// a long request borrows one only while it touches SQLite or Redis.
public final class ServicesLease {
    package let owned: Services?
    package let pool: ServicesPool?
    package var borrowed: Services?

    public init(owned: Services) {
        self.owned = owned
        self.pool = nil
    }

    public init(pool: ServicesPool) {
        self.owned = nil
        self.pool = pool
    }

    public var current: Services {
        if let owned { return owned }
        if let borrowed { return borrowed }
        guard let pool else { preconditionFailure("a lease has an owner or a pool") }
        let services = pool.acquire()
        borrowed = services
        return services
    }

    public func release() {
        if let borrowed, let pool { pool.give(borrowed) }
        borrowed = nil
    }
}

/// A fixed set of Services shared by the long requests' threads. Made at start (so a database
/// that cannot be opened stops `serve`), handed to one thread at a time.
public final class ServicesPool: @unchecked Sendable {
    package let condition = NSCondition()
    package var free: [Services]

    public init(size: Int, config: Config, shared: SharedState) throws {
        free = try (0..<max(1, size)).map { _ in try Services(config: config, shared: shared) }
    }

    package func acquire() -> Services {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }

    package func give(_ services: Services) {
        condition.lock()
        free.append(services)
        condition.signal()
        condition.unlock()
    }
}
