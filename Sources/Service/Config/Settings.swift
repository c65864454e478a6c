import Cache
import Foundation
import Postgres
import Storage
import Support

/// The one table of settings (SPEC section 3): each variable with its default, parser, secret flag
/// and doc line. `check-config`, docs/configuration.md and the admin API all come from here.
public struct SettingSpec: Sendable {
    public enum Kind: Sendable {
        case path, redisURL, databaseURL, secret, secretList, bool, urlList, hostList, cidrList, text, list
        case positiveNumber(max: Double)
        case integer(ClosedRange<Int>)
    }
    public let name: String
    public let defaultValue: String
    public let kind: Kind
    public let doc: String
    /// Editable settings only: the value as `/admin/config`, import and export show it, read from
    /// the effective config. Admins change these at run time; nothing secret is ever among them.
    public let shown: (@Sendable (Config) -> JSON)?
    /// The name in `/admin/config` and in exports.
    public var apiName: String { name.lowercased() }
    public var isEditable: Bool { shown != nil }

    /// What `/admin/config` and import accept for this setting, in the vocabulary request fields
    /// and valves use; the string the environment would hold is then parsed as at start-up.
    public var valueKind: ValueKind {
        switch kind {
        case .bool: .bool
        case .positiveNumber(let max): .number(Self.smallestNumber...max)
        case .integer(let range): .integer(range)
        case .hostList, .cidrList, .urlList, .list: .stringList(max: 1000)
        case .text, .path: .line(max: 200)
        case .secret, .secretList, .redisURL, .databaseURL: .custom { _ in "is not a runtime setting" }
        }
    }

    public init(name: String, defaultValue: String, kind: Kind, doc: String, shown: (@Sendable (Config) -> JSON)? = nil) {
        self.name = name
        self.defaultValue = defaultValue
        self.kind = kind
        self.doc = doc
        self.shown = shown
    }
    /// The smallest value of a `positiveNumber` setting.
    public static let smallestNumber = 0.001
    public var isSecret: Bool {
        if case .secret = kind { return true }
        if case .secretList = kind { return true }
        return false
    }
}

public enum SettingsTable {
    public static let all: [SettingSpec] = [
        SettingSpec(
            name: "CRYOTENSOR_DB", defaultValue: "var/cryotensor.db", kind: .path,
            doc: "SQLite database file (WAL mode); unused when `DATABASE_URL` is set."),
        SettingSpec(
            name: "DATABASE_URL", defaultValue: "", kind: .databaseURL,
            doc: "`postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?sslmode=...]` makes PostgreSQL the store, shared by "
                + "several responders (docs/deployment.md, \"More than one host\"); unset: SQLite at `CRYOTENSOR_DB`. "
                + "`sslmode` `disable` and `allow` are refused. The password is a secret: masked in `check-config` and status, "
                + "never logged."
        ),
        SettingSpec(
            name: "REDIS_URL", defaultValue: "", kind: .redisURL,
            doc: "`redis://[USER:PASSWORD@]HOST:PORT[/DB]` or "
                + "`unix:///PATH` (`?password=` and `?user=` for a Unix socket with AUTH); unset or down: the service keeps "
                + "working from SQLite and reports Redis as degraded. The password is a secret: masked in `check-config`, never "
                + "logged. `rediss://` (TLS) is refused: Debian 12's hiredis 0.14 has no TLS, see docs/deployment.md."),
        SettingSpec(
            name: "CONFIG_ENCRYPTION_KEY", defaultValue: "", kind: .secret,
            doc: "High-entropy string (at least 32 characters); when set, secrets persist encrypted."),
        SettingSpec(
            name: "CONFIG_ENCRYPTION_KEY_PREVIOUS", defaultValue: "", kind: .secretList,
            doc: "Older keys, comma separated, read-only, for rotation."),
        SettingSpec(
            name: "ENABLE_LOCAL_ENCRYPTION", defaultValue: "false", kind: .bool,
            doc: "With the key: chat transcripts encrypted at rest. Without the key the service refuses to start."),
        SettingSpec(
            name: "OPENAI_ALLOWED_API_BASE_URLS", defaultValue: "https://api.openai.com/v1", kind: .urlList,
            doc: "Comma or semicolon separated; the only upstream base URLs a connection may use."),
        SettingSpec(
            name: "WEBUI_SECRET_KEY", defaultValue: "", kind: .secret,
            doc: "Protects the pipe's secret valves "
                + "(EncryptedStr) and keys the cache session id (HKDF subkeys per use). At least 32 characters."),
        SettingSpec(
            name: "OPENROUTER_API_KEY", defaultValue: "", kind: .secret,
            doc: "The pipe's key when its `API_KEY` "
                + "valve is empty; sent only while the pipe's `BASE_URL` equals `OPENROUTER_API_KEY_BASE_URL`."),
        SettingSpec(
            name: "OPENROUTER_API_KEY_BASE_URL", defaultValue: "https://openrouter.ai/api/v1", kind: .urlList,
            doc: "The one base URL `OPENROUTER_API_KEY` is bound to: after an admin changes the pipe's `BASE_URL`, the "
                + "environment key is no longer sent."),
        SettingSpec(
            name: "SESSION_LOG_DIR", defaultValue: "session_logs", kind: .path,
            doc: "Folder of the pipe's "
                + "session-log archives (relative paths are under the database's folder). Operator-only: not an admin-API "
                + "valve, and `cleanup` deletes only `<user>/<chat>/<message>.zip` archives under it."),
        SettingSpec(
            name: "MAX_ANSWER_MB", defaultValue: "4", kind: .positiveNumber(max: 256),
            doc: "Largest answer stored "
                + "from a provider; past it the stream ends with `answer_too_large` and what fit is stored as incomplete. Also "
                + "caps a streamed line or event, and a session log at twice this."),
        SettingSpec(
            name: "CHAT_COMPLETIONS_MAX_N", defaultValue: "1", kind: .integer(1...16),
            doc: "Largest `n` a caller may ask of `POST /chat/completions`."),
        SettingSpec(
            name: "CHAT_COMPLETIONS_MAX_TOKENS", defaultValue: "16384", kind: .integer(1...1_000_000),
            doc: "Largest `max_tokens` / `max_completion_tokens` a caller may ask of `POST /chat/completions`."),
        SettingSpec(
            name: "ENABLE_SSRF_PROTECTION", defaultValue: "true", kind: .bool,
            doc: "Refuse downloads that resolve to loopback, private, link-local and other special-purpose addresses.",
            shown: { .bool($0.ssrfProtection) }),
        SettingSpec(
            name: "ALLOW_INSECURE_HTTP", defaultValue: "false", kind: .bool,
            doc: "Allow `http://` downloads, only to hosts in `ALLOW_INSECURE_HTTP_HOSTS`.",
            shown: { .bool($0.allowInsecureHTTP) }),
        SettingSpec(
            name: "ALLOW_INSECURE_HTTP_HOSTS", defaultValue: "", kind: .hostList,
            doc: "Comma separated `host` or `host:port` entries allowed over plain http.",
            shown: { .array($0.insecureHTTPHosts.map { .string($0) }) }),
        SettingSpec(
            name: "SSRF_ALLOWED_CIDRS", defaultValue: "", kind: .cidrList,
            doc: "Comma separated CIDRs opened to downloads despite the guard (an internal mirror). A sharp tool.",
            shown: { .array($0.ssrfAllowedCIDRs.map { .string($0.description) }) }),
        SettingSpec(
            name: "REMOTE_FILE_MAX_SIZE_MB", defaultValue: "50", kind: .positiveNumber(max: 10240),
            doc: "Cap on a downloaded file, on Content-Length and on bytes received.",
            shown: { .number($0.remoteFileMaxMB) }),
        SettingSpec(
            name: "REMOTE_DOWNLOAD_MAX_RETRIES", defaultValue: "3", kind: .integer(0...20),
            doc: "Retries of a failed download (5xx, 408, 425, 429, network errors).",
            shown: { JSON($0.remoteDownloadMaxRetries) }),
        SettingSpec(
            name: "REMOTE_DOWNLOAD_INITIAL_RETRY_DELAY_SECONDS", defaultValue: "5", kind: .positiveNumber(max: 600),
            doc: "First backoff delay; doubles on each retry.",
            shown: { .number($0.remoteDownloadInitialRetryDelaySeconds) }),
        SettingSpec(
            name: "REMOTE_DOWNLOAD_MAX_RETRY_TIME_SECONDS", defaultValue: "45", kind: .positiveNumber(max: 3600),
            doc: "Total time budget of a download with its retries.",
            shown: { .number($0.remoteDownloadMaxRetryTimeSeconds) }),
        SettingSpec(
            name: "BASE64_MAX_SIZE_MB", defaultValue: "50", kind: .positiveNumber(max: 10240),
            doc: "Cap on a message's attachments to the pipe, base64-encoded, all together (videos apart).",
            shown: { .number($0.base64MaxMB) }),
        SettingSpec(
            name: "VIDEO_MAX_SIZE_MB", defaultValue: "100", kind: .positiveNumber(max: 10240),
            doc: "Cap on the video attachments of a message to the pipe (`video/*` downloads, base64-encoded), together, on "
                + "their own budget apart from `BASE64_MAX_SIZE_MB`.",
            shown: { .number($0.videoMaxMB) }),
        SettingSpec(
            name: "MAX_STREAMS_PER_USER", defaultValue: "8", kind: .integer(1...10_000),
            doc: "Answers one user may have in flight at once (runtime setting `max_streams_per_user`); past it 429 `too_many_streams`.",
            shown: { JSON($0.maxStreamsPerUser) }),
        SettingSpec(
            name: "QUOTA_RESERVE_TOKENS", defaultValue: "1024", kind: .integer(1...1_000_000),
            doc: "Completion tokens reserved against a daily quota before an answer that names no `max_tokens` (runtime "
                + "setting `quota_reserve_tokens`); the real count replaces it when the answer ends (docs/usage.md).",
            shown: { JSON($0.quotaReserveTokens) }),
        SettingSpec(
            name: "DEFAULT_MODEL", defaultValue: "", kind: .text,
            doc: "Model preselected for new chats (a model id from `GET /models`).",
            shown: { .string($0.defaultModel) }),
        SettingSpec(
            name: "CRYOTENSOR_MAX_BODY_MB", defaultValue: "10", kind: .positiveNumber(max: 1024),
            doc: "Largest request body the responder reads (nginx's `client_max_body_size` should match)."),
        SettingSpec(
            name: "CRYOTENSOR_SESSION_HOURS", defaultValue: "12", kind: .integer(1...720),
            doc: "Lifetime of a browser session cookie."),
        SettingSpec(
            name: "CRYOTENSOR_LOGIN_MAX_FAILURES", defaultValue: "5", kind: .integer(1...1000),
            doc: "Failed logins per account in 15 minutes before further attempts get 429."),
        SettingSpec(
            name: "CRYOTENSOR_LOGIN_MAX_FAILURES_PER_CLIENT", defaultValue: "20", kind: .integer(1...10000),
            doc: "Failed logins per client address in 15 minutes before further attempts get 429."),
        SettingSpec(
            name: "OIDC_ISSUER", defaultValue: "", kind: .text,
            doc: "OpenID Connect issuer URL (`https://`; the discovery document is read from "
                + "`{issuer}/.well-known/openid-configuration`). Unset: no sign-in with an identity provider. See docs/security.md."),
        SettingSpec(name: "OIDC_CLIENT_ID", defaultValue: "", kind: .text, doc: "The client id registered at the provider."),
        SettingSpec(
            name: "OIDC_PROVIDER_NAME", defaultValue: "single sign-on", kind: .text,
            doc: "What the login page's button says after \"Sign in with\" (`GET /auth/providers` `oidc.name`)."),
        SettingSpec(
            name: "OIDC_CLIENT_SECRET", defaultValue: "", kind: .secret,
            doc: "The client secret (a confidential client): sent only to the provider's token endpoint, masked everywhere, "
                + "never logged or exported."),
        SettingSpec(
            name: "OIDC_REDIRECT_URI", defaultValue: "", kind: .text,
            doc: "The callback URL registered at the provider, `https://HOST/api/v1/auth/oidc/callback` (required with "
                + "`OIDC_ISSUER`; never derived from the request's Host header)."),
        SettingSpec(
            name: "OIDC_SCOPES", defaultValue: "openid email profile", kind: .text,
            doc: "Scopes asked for, space separated; must include `openid`."),
        SettingSpec(
            name: "OIDC_GROUPS_CLAIM", defaultValue: "groups", kind: .text,
            doc: "The ID token claim that lists the user's groups (a list of strings)."),
        SettingSpec(
            name: "OIDC_ADMIN_GROUPS", defaultValue: "", kind: .list,
            doc: "Comma separated groups whose members are admins; the role is set at every sign-in (empty: nobody is admin "
                + "through the provider)."),
        SettingSpec(
            name: "OIDC_ALLOWED_GROUPS", defaultValue: "", kind: .list,
            doc: "Comma separated groups allowed to sign in through the provider (empty: anyone the provider signs in); "
                + "others get `login_error=not_allowed`."),
        SettingSpec(
            name: "OIDC_ALLOW_INSECURE_HTTP_ISSUER", defaultValue: "false", kind: .bool,
            doc: "Allow an `http://` issuer and endpoints, on a loopback host only (a test provider). Never in production."),
        SettingSpec(
            name: "ENABLE_PASSWORD_LOGIN", defaultValue: "true", kind: .bool,
            doc: "`false` turns `POST /auth/login` off for everyone (operator commands still work); sign-in is then through "
                + "the identity provider only."),
        SettingSpec(
            name: "AUDIT_RETENTION_DAYS", defaultValue: "0", kind: .integer(0...36_500),
            doc: "`cryotensor cleanup` drops audit events older than this many days and keeps the chain verifiable from the "
                + "oldest kept event (a checkpoint); 0 keeps every event."),
        SettingSpec(
            name: "CHAT_RETENTION_DAYS", defaultValue: "0", kind: .integer(0...36_500),
            doc: "`cryotensor cleanup` deletes chats not updated for this many days, with every copy (messages, search index, "
                + "artifacts, Redis entries, session logs); 0 keeps every chat.")
    ]

    public static func spec(_ name: String) -> SettingSpec? { all.first { $0.name == name } }
}

public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public let variable: String
    public let reason: String
    public var description: String { "\(variable): \(reason)" }
}

/// Parsed, validated settings. Secrets are held as `Secret`, whose printed form is a mask.
public struct Config: Sendable {
    public var databasePath: String
    /// PostgreSQL instead of SQLite (`DATABASE_URL`).
    public var databaseURL: PostgresURL?
    public var database: DatabaseLocation { databaseURL.map(DatabaseLocation.postgresql) ?? .sqlite(path: databasePath) }
    public var redis: RedisEndpoint?
    public var encryptionKey: Secret?
    public var previousEncryptionKeys: [Secret]
    public var localEncryption: Bool
    public var allowedBaseURLs: [String]
    public var webuiSecretKey: Secret?
    public var openRouterAPIKey: Secret?
    public var ssrfProtection: Bool
    public var allowInsecureHTTP: Bool
    public var insecureHTTPHosts: [String]
    public var ssrfAllowedCIDRs: [CIDR]
    public var remoteFileMaxMB: Double
    public var remoteDownloadMaxRetries: Int
    public var remoteDownloadInitialRetryDelaySeconds: Double
    public var remoteDownloadMaxRetryTimeSeconds: Double
    public var base64MaxMB: Double
    public var videoMaxMB: Double
    public var defaultModel: String
    public var maxStreamsPerUser: Int
    public var quotaReserveTokens: Int
    public var openRouterKeyBaseURL: String
    public var sessionLogDirectory: String
    public var maxAnswerBytes: Int
    public var completionsMaxN: Int
    public var completionsMaxTokens: Int
    public var maxBodyBytes: Int
    public var sessionHours: Int
    public var loginMaxFailures: Int
    public var loginMaxFailuresPerClient: Int
    public var auditRetentionDays: Int
    public var chatRetentionDays: Int
    /// Sign-in with an OpenID Connect provider; nil when `OIDC_ISSUER` is unset.
    public var oidc: OIDCSettings?
    public var passwordLogin: Bool

    /// Parses every variable of the table; the first bad one is reported by name.
    public static func load(environment: [String: String]) throws(ConfigError) -> Config {
        var values: [String: String] = [:]
        for spec in SettingsTable.all {
            let raw = environment[spec.name].map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            values[spec.name] = raw.isEmpty ? spec.defaultValue : raw
        }
        func value(_ name: String) -> String { values[name] ?? "" }
        func bool(_ name: String) throws(ConfigError) -> Bool {
            switch value(name).lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ConfigError(variable: name, reason: "not a boolean (use true or false): '\(value(name))'")
            }
        }
        func number(_ name: String) throws(ConfigError) -> Double {
            guard case .positiveNumber(let maxValue)? = SettingsTable.spec(name)?.kind else { return 0 }
            // At least 0.001: a size or time of 1e-300 parses, but would act as zero.
            guard let d = Double(value(name)), d.isFinite, d >= SettingSpec.smallestNumber, d <= maxValue else {
                throw ConfigError(variable: name, reason: "not a number from 0.001 to \(Int(maxValue)): '\(value(name))'")
            }
            return d
        }
        func integer(_ name: String) throws(ConfigError) -> Int {
            guard case .integer(let range)? = SettingsTable.spec(name)?.kind else { return 0 }
            guard let i = Int(value(name)), range.contains(i) else {
                throw ConfigError(variable: name, reason: "not an integer in \(range.lowerBound)...\(range.upperBound): '\(value(name))'")
            }
            return i
        }
        func list(_ name: String) -> [String] {
            value(name).split(whereSeparator: { $0 == "," || $0 == ";" })
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        func text(_ name: String) throws(ConfigError) -> String {
            let v = value(name)
            guard v.count <= 200, !v.contains(where: { $0.isNewline }) else {
                throw ConfigError(variable: name, reason: "must be one line of at most 200 characters")
            }
            return v
        }
        func secret(_ name: String) throws(ConfigError) -> Secret? {
            let v = value(name)
            // A secret with a control character (a pasted newline) could inject a header.
            guard !v.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw ConfigError(variable: name, reason: "contains a control character (newline, tab or NUL)")
            }
            return v.isEmpty ? nil : Secret(v)
        }

        let key = try secret("CONFIG_ENCRYPTION_KEY")
        if let key, key.reveal().count < 32 {
            throw ConfigError(
                variable: "CONFIG_ENCRYPTION_KEY",
                reason: "too short: use at least 32 random characters (for example `openssl rand -base64 32`)")
        }
        let previous = list("CONFIG_ENCRYPTION_KEY_PREVIOUS").map(Secret.init)
        let webuiKey = try secret("WEBUI_SECRET_KEY")
        if let webuiKey, webuiKey.reveal().count < 32 {
            throw ConfigError(
                variable: "WEBUI_SECRET_KEY",
                reason: "too short: use at least 32 random characters (for example `openssl rand -base64 32`)")
        }
        var keyBaseURL = ""
        switch BaseURL.normalize(value("OPENROUTER_API_KEY_BASE_URL")) {
        case .success(let normal): keyBaseURL = normal
        case .failure(let why): throw ConfigError(variable: "OPENROUTER_API_KEY_BASE_URL", reason: "not a valid base URL (\(why.rawValue))")
        }
        let sessionLogDir = value("SESSION_LOG_DIR")
        guard !sessionLogDir.contains("\0"), !sessionLogDir.split(separator: "/").contains("..") else {
            throw ConfigError(variable: "SESSION_LOG_DIR", reason: "invalid path (no NUL, no '..')")
        }
        let localEncryption = try bool("ENABLE_LOCAL_ENCRYPTION")
        if localEncryption && key == nil {
            throw ConfigError(variable: "ENABLE_LOCAL_ENCRYPTION", reason: "is true but CONFIG_ENCRYPTION_KEY is not set")
        }

        var redis: RedisEndpoint? = nil
        if !value("REDIS_URL").isEmpty {
            if value("REDIS_URL").lowercased().hasPrefix("rediss://") {
                throw ConfigError(
                    variable: "REDIS_URL",
                    reason: "rediss:// (TLS) is not supported by Debian 12's hiredis 0.14; "
                        + "use a Unix socket, or a local TLS tunnel (docs/deployment.md)")
            }
            guard let parsed = RedisEndpoint.parse(value("REDIS_URL")) else {
                throw ConfigError(variable: "REDIS_URL", reason: "expected redis://[USER:PASSWORD@]HOST:PORT[/DB] or unix:///PATH")
            }
            redis = parsed
        }

        var allowed: [String] = []
        for entry in list("OPENAI_ALLOWED_API_BASE_URLS") {
            switch BaseURL.normalize(entry) {
            case .success(let normal): allowed.append(normal)
            case .failure(let problem):
                throw ConfigError(
                    variable: "OPENAI_ALLOWED_API_BASE_URLS",
                    reason: "entry '\(entry)' is not a valid base URL (\(problem.rawValue))")
            }
        }

        var hosts: [String] = []
        for entry in list("ALLOW_INSECURE_HTTP_HOSTS") {
            let lower = entry.lowercased()
            guard !lower.contains("/"), !lower.contains("@"),
                lower.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:[]".contains($0)) })
            else {
                throw ConfigError(variable: "ALLOW_INSECURE_HTTP_HOSTS", reason: "entry '\(entry)' is not a host or host:port")
            }
            hosts.append(lower)
        }

        var cidrs: [CIDR] = []
        for entry in list("SSRF_ALLOWED_CIDRS") {
            guard let cidr = CIDR(entry) else {
                throw ConfigError(variable: "SSRF_ALLOWED_CIDRS", reason: "entry '\(entry)' is not a CIDR such as 10.1.2.0/24")
            }
            cidrs.append(cidr)
        }

        let maxBodyMB = try number("CRYOTENSOR_MAX_BODY_MB")
        // Positive is not enough: 1e-300 MB would round to a 0-byte limit that refuses every body.
        guard maxBodyMB * 1024 * 1024 >= 1 else {
            throw ConfigError(variable: "CRYOTENSOR_MAX_BODY_MB", reason: "below one byte: '\(value("CRYOTENSOR_MAX_BODY_MB"))'")
        }

        let databasePath = value("CRYOTENSOR_DB")
        guard !databasePath.contains("\0") else { throw ConfigError(variable: "CRYOTENSOR_DB", reason: "invalid path") }
        var databaseURL: PostgresURL? = nil
        if !value("DATABASE_URL").isEmpty {
            switch PostgresURL.parse(value("DATABASE_URL")) {
            case .success(let url): databaseURL = url
            case .failure(let problem): throw ConfigError(variable: "DATABASE_URL", reason: problem.description)
            }
        }

        return Config(
            databasePath: databasePath,
            databaseURL: databaseURL,
            redis: redis,
            encryptionKey: key,
            previousEncryptionKeys: previous,
            localEncryption: localEncryption,
            allowedBaseURLs: allowed,
            webuiSecretKey: webuiKey,
            openRouterAPIKey: try secret("OPENROUTER_API_KEY"),
            ssrfProtection: try bool("ENABLE_SSRF_PROTECTION"),
            allowInsecureHTTP: try bool("ALLOW_INSECURE_HTTP"),
            insecureHTTPHosts: hosts,
            ssrfAllowedCIDRs: cidrs,
            remoteFileMaxMB: try number("REMOTE_FILE_MAX_SIZE_MB"),
            remoteDownloadMaxRetries: try integer("REMOTE_DOWNLOAD_MAX_RETRIES"),
            remoteDownloadInitialRetryDelaySeconds: try number("REMOTE_DOWNLOAD_INITIAL_RETRY_DELAY_SECONDS"),
            remoteDownloadMaxRetryTimeSeconds: try number("REMOTE_DOWNLOAD_MAX_RETRY_TIME_SECONDS"),
            base64MaxMB: try number("BASE64_MAX_SIZE_MB"),
            videoMaxMB: try number("VIDEO_MAX_SIZE_MB"),
            defaultModel: try text("DEFAULT_MODEL"),
            maxStreamsPerUser: try integer("MAX_STREAMS_PER_USER"),
            quotaReserveTokens: try integer("QUOTA_RESERVE_TOKENS"),
            openRouterKeyBaseURL: keyBaseURL,
            sessionLogDirectory: sessionLogDir,
            maxAnswerBytes: Int(try number("MAX_ANSWER_MB") * 1024 * 1024),
            completionsMaxN: try integer("CHAT_COMPLETIONS_MAX_N"),
            completionsMaxTokens: try integer("CHAT_COMPLETIONS_MAX_TOKENS"),
            maxBodyBytes: Int(maxBodyMB * 1024 * 1024),
            sessionHours: try integer("CRYOTENSOR_SESSION_HOURS"),
            loginMaxFailures: try integer("CRYOTENSOR_LOGIN_MAX_FAILURES"),
            loginMaxFailuresPerClient: try integer("CRYOTENSOR_LOGIN_MAX_FAILURES_PER_CLIENT"),
            auditRetentionDays: try integer("AUDIT_RETENTION_DAYS"),
            chatRetentionDays: try integer("CHAT_RETENTION_DAYS"),
            oidc: try OIDCSettings.load(
                issuer: try text("OIDC_ISSUER"), clientID: try text("OIDC_CLIENT_ID"), clientSecret: try secret("OIDC_CLIENT_SECRET"),
                redirectURI: try text("OIDC_REDIRECT_URI"), scopes: try text("OIDC_SCOPES"), groupsClaim: try text("OIDC_GROUPS_CLAIM"),
                adminGroups: list("OIDC_ADMIN_GROUPS"), allowedGroups: list("OIDC_ALLOWED_GROUPS"),
                allowInsecureHTTP: try bool("OIDC_ALLOW_INSECURE_HTTP_ISSUER"), displayName: try text("OIDC_PROVIDER_NAME")),
            passwordLogin: try bool("ENABLE_PASSWORD_LOGIN")
        )
    }

    /// Every bad variable, not only the first: each one found is set back to its default and the
    /// whole set checked again, until it loads.
    public static func problems(environment: [String: String]) -> [ConfigError] {
        var env = environment
        var found: [ConfigError] = []
        for _ in 0...SettingsTable.all.count {
            do {
                _ = try Config.load(environment: env)
                return found
            } catch {
                guard env[error.variable] != nil || found.isEmpty else { return found + [error] }
                found.append(error)
                if env[error.variable] == nil { return found }
                env[error.variable] = nil
            }
        }
        return found
    }

    /// `check-config` output: every variable with its effective value; secrets only as set/unset.
    public static func describe(environment: [String: String]) -> [(name: String, shown: String)] {
        SettingsTable.all.map { spec in
            let raw = environment[spec.name] ?? ""
            if spec.isSecret { return (spec.name, raw.isEmpty ? "(unset)" : "(set)") }
            if case .redisURL = spec.kind, !raw.isEmpty { return (spec.name, RedisEndpoint.masked(raw)) }
            if case .databaseURL = spec.kind, !raw.isEmpty {
                // Only a URL that parses is shown (masked): one that does not may hide its password from the masker.
                guard case .success(let url) = PostgresURL.parse(raw) else { return (spec.name, "(set, invalid)") }
                return (spec.name, url.masked)
            }
            let shown = raw.isEmpty ? (spec.defaultValue.isEmpty ? "(unset)" : "\(spec.defaultValue) (default)") : raw
            return (spec.name, Redaction.scrub(shown))
        }
    }
}

extension SettingsTable {
    /// The table of docs/configuration.md, rendered from this one (a test keeps them equal).
    public static var markdownTable: String {
        var lines = ["| variable | default | secret | runtime (API name) | meaning |", "|---|---|---|---|---|"]
        for spec in all {
            let secret: String
            switch spec.kind {
            case .secret, .secretList: secret = "yes"
            case .redisURL, .databaseURL: secret = "password part"
            default: secret = "no"
            }
            let fallback = spec.defaultValue.isEmpty ? "unset" : "`\(spec.defaultValue)`"
            let runtime = spec.isEditable ? "`\(spec.apiName)`" : "no"
            lines.append("| `\(spec.name)` | \(fallback) | \(secret) | \(runtime) | \(spec.doc) |")
        }
        return lines.joined(separator: "\n")
    }
}
