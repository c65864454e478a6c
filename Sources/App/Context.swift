import Cache
import Foundation
import Crypto
import FastCGI
import Storage
import Support
import Synchronization

/// What a handler sees: the request, its path parameters, the caller, and the services (SQLite
/// and Redis connections) it may use: its thread's own, or one borrowed from the pool.
public final class Context {
    public let request: Request
    public let pathParams: [String: String]
    let lease: ServicesLease
    public let requestID: String
    public internal(set) var auth: Authentication?

    init(request: Request, pathParams: [String: String], lease: ServicesLease, requestID: String) {
        self.request = request
        self.pathParams = pathParams
        self.lease = lease
        self.requestID = requestID
    }

    /// The services to use now. A long request borrows them from the pool on first use.
    public var services: Services { lease.current }

    /// Gives borrowed services back before waiting on the network, so a stream holds no SQLite
    /// or Redis connection while it waits. Anything made from `db` before must not be used after.
    func releaseServices() { lease.release() }

    public var config: Config { services.config }
    public var db: Database { services.db }

    public var user: User {
        get throws(HTTPError) {
            guard let auth else { throw HTTPError.unauthorized }
            return auth.user
        }
    }

    public func input(_ spec: InputSpec) throws(HTTPError) -> Fields {
        try spec.validate(request.body)
    }

    /// A numeric path id; anything else is 404, as if it did not exist.
    public func id(_ name: String = "id") throws(HTTPError) -> Int64 {
        guard let text = pathParams[name], let id = Int64(text), id > 0 else { throw HTTPError.notFound }
        return id
    }

    /// The client address nginx saw.
    public var clientAddress: String { request.params["REMOTE_ADDR"] ?? "unknown" }
}

public struct Authentication: Sendable {
    public enum Method: String, Sendable { case session, token }
    public let user: User
    public let method: Method
    public let sessionToken: String?
}

/// Per-thread services: each worker thread owns its SQLite connection and Redis client.
public final class Services {
    public let config: Config
    public let db: Database
    public let redis: RedisClient?
    public let shared: SharedState
    /// This thread's copy of the runtime settings, keyed by their version.
    var runtimeCache: (version: Int64, overrides: [String: String], config: Config)?

    public init(config: Config, shared: SharedState) throws {
        self.config = config
        self.shared = shared
        self.db = try Database(path: config.databasePath)
        self.redis = config.redis.map { RedisClient(endpoint: $0) }
    }

    /// Runs a Redis command; nil when Redis is not configured or down (degraded mode).
    func redisCommand(_ args: [String]) -> RedisReply? {
        guard let redis else { return nil }
        do {
            return try redis.command(args)
        } catch {
            shared.noteRedisFailure(error.message)
            return nil
        }
    }
}

/// Where a request's services come from: the accepting thread's own, or a shared pool from which
/// a long request borrows one only while it touches SQLite or Redis.
final class ServicesLease {
    let owned: Services?
    let pool: ServicesPool?
    var borrowed: Services?

    init(owned: Services) {
        self.owned = owned
        self.pool = nil
    }

    init(pool: ServicesPool) {
        self.owned = nil
        self.pool = pool
    }

    var current: Services {
        if let owned { return owned }
        if let borrowed { return borrowed }
        guard let pool else { preconditionFailure("a lease has an owner or a pool") }
        let services = pool.acquire()
        borrowed = services
        return services
    }

    func release() {
        if let borrowed, let pool { pool.give(borrowed) }
        borrowed = nil
    }
}

/// A fixed set of Services shared by the long requests' threads. Made at start (so a database
/// that cannot be opened stops `serve`), handed to one thread at a time.
public final class ServicesPool: @unchecked Sendable {
    let condition = NSCondition()
    var free: [Services]

    public init(size: Int, config: Config, shared: SharedState) throws {
        free = try (0..<max(1, size)).map { _ in try Services(config: config, shared: shared) }
    }

    func acquire() -> Services {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }

    func give(_ services: Services) {
        condition.lock()
        free.append(services)
        condition.signal()
        condition.unlock()
    }
}

/// State shared by all threads of one process. Holds nothing per request.
public final class SharedState: Sendable {
    public let startedAt = Clock.now()
    public let version: String
    public let vault: SecretVault
    /// The environment's values of the settings table (nothing else of the environment).
    public let settingsEnvironment: [String: String]
    let redisDownLogged = AtomicFlag()
    /// Authenticates what this service puts in Redis (cached artifacts, model lists). Kept in
    /// the database, so writing to Redis is not enough to forge an entry.
    public let cacheMACKey: [UInt8]
    /// Streams in flight in this process: per-user limits and stop.
    public let streams = StreamRegistry()
    /// Answers as far as they have streamed, written to SQLite four times a second.
    public let partials = PartialAnswers()
    /// Connections whose model list failed lately, so a dead provider costs one caller its
    /// timeout, not every caller.
    let modelFailures = Mutex<[Int64: (code: String, message: String, until: Double)]>([:])

    public init(version: String, config: Config, environment: [String: String], cacheMACKey: [UInt8]) {
        self.version = version
        self.cacheMACKey = cacheMACKey
        self.settingsEnvironment = environment.filter { key, _ in SettingsTable.spec(key) != nil }
        self.vault = SecretVault(keyring: Keyring(current: config.encryptionKey?.reveal(),
                                                  previous: config.previousEncryptionKeys.map { $0.reveal() }))
    }

    func noteRedisFailure(_ message: String) {
        if redisDownLogged.set() { Log.event(.warn, "redis_unavailable", ["reason": .string(message)]) }
    }

    func noteRedisOK() {
        if redisDownLogged.clear() { Log.event(.info, "redis_recovered") }
    }
}
