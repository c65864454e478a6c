import Cache
import Crypto
import FastCGI
import Storage
import Support

/// What a handler sees: the request, its path parameters, the caller, and this thread's services.
public final class Context {
    public let request: Request
    public let pathParams: [String: String]
    public let services: Services
    public let requestID: String
    public internal(set) var auth: Authentication?

    init(request: Request, pathParams: [String: String], services: Services, requestID: String) {
        self.request = request
        self.pathParams = pathParams
        self.services = services
        self.requestID = requestID
    }

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
