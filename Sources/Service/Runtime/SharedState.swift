import Cache
import Crypto
import Support
import Synchronization

/// State shared by all threads of one process. Holds nothing per request.
public final class SharedState: Sendable {
    public let startedAt = Clock.now()
    public let version: String
    public let vault: SecretVault
    /// The audit chain's keys, derived once per process.
    public let auditKeys: AuditKeys
    /// The environment's values of the settings table (nothing else of the environment).
    public let settingsEnvironment: [String: String]
    /// Redis health for the whole process: its loss and recovery are logged once each.
    public let cacheHealth = CacheHealth()
    /// Authenticates what this service puts in Redis (cached artifacts, model lists). Kept in
    /// the database, so writing to Redis is not enough to forge an entry.
    public let cacheMACKey: [UInt8]
    /// Streams in flight in this process: per-user limits and stop.
    public let streams: StreamRegistry
    /// Answers as far as they have streamed, written to SQLite four times a second.
    public let partials = PartialAnswers()
    /// Connections whose model list failed lately, so a dead provider costs one caller its
    /// timeout, not every caller.
    package let modelFailures = Mutex<[Int64: (code: ErrorCode, message: String, until: Double)]>([:])
    /// The identity provider's discovery document and keys (sign-in with OpenID Connect).
    package let oidc = OIDCDirectory()

    public init(version: String, config: Config, environment: [String: String], cacheMACKey: [UInt8]) {
        self.version = version
        self.cacheMACKey = cacheMACKey
        self.settingsEnvironment = environment.filter { key, _ in SettingsTable.spec(key) != nil }
        self.auditKeys = AuditKeys(config: config)
        self.streams = StreamRegistry(clustered: config.databaseURL != nil)
        self.vault = SecretVault(
            keyring: Keyring(
                current: config.encryptionKey?.reveal(),
                previous: config.previousEncryptionKeys.map { $0.reveal() }))
    }
}
