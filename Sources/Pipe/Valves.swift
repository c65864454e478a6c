import Support

/// The pipe's settings, with the names and defaults of the well-known Open WebUI pipe so its
/// operators find them here (REFERENCE-PIPE.md). Download limits are the service-wide runtime
/// settings instead, so one guard configuration governs every fetch.
public struct ValveSpec: Sendable {
    /// The same vocabulary as request fields and runtime settings.
    public typealias Kind = ValueKind
    public let name: String
    public let defaultValue: String
    public let kind: Kind
    public let doc: String
    public var isSecret: Bool { if case .secret = kind { return true }; return false }
}

public enum Valves {
    public static let pipeID = "openrouter"

    public static let all: [ValveSpec] = [
        ValveSpec(
            name: "BASE_URL", defaultValue: "https://openrouter.ai/api/v1", kind: .baseURL,
            doc: "OpenRouter's API base; must be in OPENAI_ALLOWED_API_BASE_URLS."),
        ValveSpec(
            name: "API_KEY", defaultValue: "", kind: .secret(min: 1, max: 4096),
            doc: "OpenRouter key (EncryptedStr); OPENROUTER_API_KEY when empty."),
        ValveSpec(name: "HTTP_CONNECT_TIMEOUT_SECONDS", defaultValue: "10", kind: .integer(1...120), doc: "Connect timeout to OpenRouter."),
        ValveSpec(
            name: "HTTP_SOCK_READ_SECONDS", defaultValue: "300", kind: .integer(5...3600),
            doc: "Longest a streamed answer may take."),
        ValveSpec(
            name: "ARTIFACT_ENCRYPTION_KEY", defaultValue: "", kind: .secret(min: 16, max: 4096),
            doc: "Encrypts stored artifacts (EncryptedStr, at least 16 characters). Changing it starts a new table."),
        ValveSpec(
            name: "ENCRYPT_ALL", defaultValue: "true", kind: .bool,
            doc: "With the artifact key: encrypt every artifact (false: only reasoning)."),
        ValveSpec(
            name: "ENABLE_LZ4_COMPRESSION", defaultValue: "true", kind: .bool,
            doc: "Compress encrypted payloads with LZ4 first, when that makes them smaller."),
        ValveSpec(
            name: "MIN_COMPRESS_BYTES", defaultValue: "0", kind: .integer(0...(64 << 20)),
            doc: "Smallest payload worth compressing (0: always try)."),
        ValveSpec(
            name: "PERSIST_REASONING_TOKENS", defaultValue: "conversation",
            kind: .oneOf([
                "disabled", "next_reply",
                "conversation"
            ]), doc: "Keep reasoning items: never, for the next reply only, or for the whole conversation."),
        ValveSpec(
            name: "ARTIFACT_CLEANUP_DAYS", defaultValue: "90", kind: .integer(1...365),
            doc: "`cryotensor cleanup` deletes artifacts unused for this long."),
        ValveSpec(name: "ENABLE_REDIS_CACHE", defaultValue: "true", kind: .bool, doc: "Cache artifacts in Redis (SQLite stays the truth)."),
        ValveSpec(name: "REDIS_CACHE_TTL_SECONDS", defaultValue: "600", kind: .integer(60...3600), doc: "Lifetime of a cached artifact."),
        ValveSpec(
            name: "SESSION_LOG_STORE_ENABLED", defaultValue: "false", kind: .bool,
            doc: "Write each turn's exchange as an encrypted zip archive."),
        ValveSpec(
            name: "SESSION_LOG_ZIP_PASSWORD", defaultValue: "", kind: .secret(min: 8, max: 4096),
            doc: "AES-256 password of the archives (EncryptedStr). Required to store logs."),
        ValveSpec(
            name: "SESSION_LOG_RETENTION_DAYS", defaultValue: "90", kind: .integer(1...3650),
            doc: "`cryotensor cleanup` deletes older archives."),
        ValveSpec(name: "SEND_END_USER_ID", defaultValue: "false", kind: .bool, doc: "Send the user as OpenRouter's `user`."),
        ValveSpec(name: "END_USER_ID_SOURCE", defaultValue: "id", kind: .oneOf(["id", "email"]), doc: "What `user` carries."),
        ValveSpec(
            name: "SEND_SESSION_ID", defaultValue: "false", kind: .bool,
            doc: "Send `metadata.session_id` (an HMAC of the login session)."),
        ValveSpec(name: "SEND_CHAT_ID", defaultValue: "false", kind: .bool, doc: "Send `metadata.chat_id`."),
        ValveSpec(name: "SEND_MESSAGE_ID", defaultValue: "false", kind: .bool, doc: "Send `metadata.message_id`."),
        ValveSpec(
            name: "SEND_CACHE_SESSION_ID", defaultValue: "true", kind: .bool,
            doc: "Send `session_id` = HMAC-SHA256(WEBUI_SECRET_KEY, chat id) for prompt caching (needs the key)."),
        ValveSpec(
            name: "allowed_groups", defaultValue: "[]", kind: .idList(max: 256),
            doc: "Group ids whose members may use the pipe's models (empty: every user, admins bound too; SPEC section 12).")
    ]

    public static func spec(_ name: String) -> ValveSpec? { all.first { $0.name == name } }

    /// Checks one value; returns its stored string form.
    public static func validate(_ spec: ValveSpec, _ value: JSON) -> Result<String, ValveProblem> {
        switch spec.kind.check(value, name: spec.name) {
        case .failure(let refusal):
            return .failure(ValveProblem(name: spec.name, code: "invalid_field", message: refusal.message))
        case .success(.bool(let b)):
            return .success(b ? "true" : "false")
        case .success(let list) where list.arrayValue != nil:
            return .success(list.serialized())
        case .success(let normal):
            return .success(normal.intValue.map(String.init) ?? normal.stringValue ?? "")
        }
    }
}

public struct ValveProblem: Error, Sendable {
    public let name: String
    public let code: String
    public let message: String
}
