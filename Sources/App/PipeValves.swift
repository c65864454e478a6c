import Crypto
import Pipe
import Storage
import Support

/// The OpenRouter pipe's valves as stored (SQLite table `pipe_valves`) and as the admin API shows them.
struct PipeValves {
    let stored: [String: String]
    let encryptedStr: EncryptedStr
    let environmentKey: Secret?
    /// The one BASE_URL the environment key may be sent to (OPENROUTER_API_KEY_BASE_URL).
    let environmentKeyBaseURL: String

    static func load(_ c: Context) throws -> PipeValves { try load(db: c.db, config: c.config) }

    static func load(db: Database, config: Config) throws -> PipeValves {
        var stored: [String: String] = [:]
        for row in try db.query("SELECT name, value FROM pipe_valves WHERE pipe_id = ?", [.text(Valves.pipeID)]) {
            if let n = row.text("name"), let v = row.text("value") { stored[n] = v }
        }
        // Valves of earlier versions that are now operator settings are ignored.
        stored = stored.filter { Valves.spec($0.key) != nil }
        return PipeValves(stored: stored, encryptedStr: EncryptedStr(webuiSecretKey: config.webuiSecretKey?.reveal()),
                          environmentKey: config.openRouterAPIKey, environmentKeyBaseURL: config.openRouterKeyBaseURL)
    }

    func value(_ name: String) -> String { stored[name] ?? Valves.spec(name)?.defaultValue ?? "" }
    func bool(_ name: String) -> Bool { value(name) == "true" }
    func int(_ name: String) -> Int { Int(value(name)) ?? Int(Valves.spec(name)?.defaultValue ?? "") ?? 0 }

    func secret(_ name: String) -> EncryptedStr.Decoded { encryptedStr.decode(stored[name], name: name) }

    /// The key to send: the API_KEY valve, else OPENROUTER_API_KEY. An undecryptable valve is
    /// an error, never a fallback and never sent.
    func apiKey() -> Result<String, HTTPError> {
        switch secret("API_KEY") {
        case .value(let v, _): return .success(v)
        case .undecryptable(let why):
            return .failure(HTTPError(503, "pipe_key_undecryptable",
                "The pipe's API_KEY cannot be decrypted (\(why)); an admin must enter it again."))
        case .empty:
            // A changed BASE_URL detaches the environment key unless the operator bound it there.
            if let env = environmentKey, value("BASE_URL") == environmentKeyBaseURL { return .success(env.reveal()) }
            if environmentKey != nil {
                return .failure(HTTPError(503, "pipe_not_configured",
                                          "OPENROUTER_API_KEY is bound to \(environmentKeyBaseURL), not to the pipe's "
                                              + "BASE_URL; an admin must enter API_KEY."))
            }
            return .failure(HTTPError(503, "pipe_not_configured", "The OpenRouter pipe has no API key."))
        }
    }

    func describeSecret(_ name: String) -> JSON {
        switch secret(name) {
        case .empty:
            if name == "API_KEY", let env = environmentKey {
                return ["set": true, "storage": "environment", "fingerprint": JSON(Fingerprint.of(env.reveal())),
                        "bound_to": .string(environmentKeyBaseURL), "usable": .bool(value("BASE_URL") == environmentKeyBaseURL)]
            }
            return ["set": false, "storage": .string(encryptedStr.encrypts ? "encrypted" : "plaintext"), "fingerprint": .null]
        case .value(let v, let encrypted):
            return ["set": true, "storage": .string(encrypted ? "encrypted" : "plaintext"), "fingerprint": JSON(Fingerprint.of(v))]
        case .undecryptable(let why):
            return ["set": true, "storage": "encrypted", "fingerprint": .null, "error": "undecryptable", "detail": .string(why)]
        }
    }

    var json: JSON {
        var out: [String: JSON] = [:]
        for spec in Valves.all {
            if spec.isSecret { out[spec.name] = describeSecret(spec.name); continue }
            let v = value(spec.name)
            switch spec.kind {
            case .bool: out[spec.name] = .bool(v == "true")
            case .integer: out[spec.name] = JSON(Int(v) ?? 0)
            default: out[spec.name] = .string(v)
            }
        }
        return .object(out)
    }
}

enum PipeHandlers {
    static func list(_ c: Context) throws -> Response {
        let valves = try PipeValves.load(c)
        let ready: Bool = { if case .success = valves.apiKey() { return true }; return false }()
        return .json(["pipes": [[
            "id": .string(Valves.pipeID), "name": "OpenRouter Responses", "base_url": .string(valves.value("BASE_URL")),
            "base_url_allowed": .bool(c.config.allowedBaseURLs.contains(valves.value("BASE_URL"))),
            "api_key": valves.describeSecret("API_KEY"), "ready": .bool(ready), "model_prefix": .string(PipeChat.modelPrefix),
        ]]])
    }

    static func getValves(_ c: Context) throws -> Response {
        let valves = try PipeValves.load(c)
        return .json(["pipe": .string(Valves.pipeID), "valves": valves.json,
                      "webui_secret_key_set": .bool(c.config.webuiSecretKey != nil)])
    }

    /// `{valves: {NAME: value, ...}, clear: [NAME, ...]}`: all checked first, then written together.
    /// Changing BASE_URL needs API_KEY again (or its clear), so the old key never goes to a new host.
    static func putValves(_ c: Context) throws -> Response {
        let body = try ConnectionHandlers.body(c)
        for key in body.keys where key != "valves" && key != "clear" {
            throw HTTPError.invalidField(key, "Unknown field '\(key)'.")
        }
        guard let patch = body["valves"]?.objectValue ?? (body["valves"] == nil ? [:] : nil) else {
            throw HTTPError.invalidField("valves", "valves must be an object.")
        }
        let clears = body["clear"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let current = try PipeValves.load(c)
        var problems: [Problem] = []
        var writes: [String: String] = [:]
        for name in clears {
            guard Valves.spec(name)?.isSecret == true else {
                problems.append(Problem(path: "clear", code: "invalid_field", message: "\(name) is not a secret valve.")); continue
            }
            if patch[name] != nil { problems.append(Problem(path: "valves.\(name)", code: "invalid_field",
                message: "Send \(name) or clear it, not both.")) }
        }
        for (name, value) in patch.sorted(by: { $0.key < $1.key }) {
            guard let spec = Valves.spec(name) else {
                problems.append(Problem(path: "valves.\(name)", code: "invalid_field", message: "Unknown valve \(name).")); continue
            }
            if spec.isSecret, let s = value.stringValue {
                var currentValue: String? = nil
                if case .value(let v, _) = current.secret(name) { currentValue = v }
                if Fingerprint.looksMasked(s, current: currentValue) || s.hasPrefix(EncryptedStr.prefix) {
                    problems.append(Problem(path: "valves.\(name)", code: "masked_value_rejected",
                        message: "This looks like a masked or stored value; send the real secret."))
                    continue
                }
            }
            switch Valves.validate(spec, value) {
            case .success(let v):
                if spec.name == "BASE_URL" && !c.config.allowedBaseURLs.contains(v) {
                    problems.append(Problem(path: "valves.BASE_URL", code: "base_url_not_allowed",
                        message: "\(v) is not in OPENAI_ALLOWED_API_BASE_URLS."))
                } else {
                    writes[name] = spec.isSecret ? try current.encryptedStr.encode(v, name: name) : v
                }
            case .failure(let p):
                problems.append(Problem(path: "valves.\(name)", code: p.code, message: p.message))
            }
        }
        if let newBase = writes["BASE_URL"], newBase != current.value("BASE_URL"), current.stored["API_KEY"] != nil,
           writes["API_KEY"] == nil, !clears.contains("API_KEY") {
            problems.append(Problem(path: "valves.API_KEY", code: "secret_required",
                message: "BASE_URL changes: send API_KEY again, or clear it."))
        }
        guard problems.isEmpty else { throw ConnectionHandlers.problemError(problems) }
        try c.db.transaction {
            for (name, value) in writes {
                try c.db.run("INSERT INTO pipe_valves (pipe_id, name, value) VALUES (?, ?, ?) ON CONFLICT(pipe_id, name) DO "
                    + "UPDATE SET value = excluded.value",
                             [.text(Valves.pipeID), .text(name), .text(value)])
            }
            for name in clears {
                try c.db.run("DELETE FROM pipe_valves WHERE pipe_id = ? AND name = ?", [.text(Valves.pipeID), .text(name)])
            }
        }
        _ = c.services.redisCommand(["DEL", PipeChat.modelsCacheKey])
        Log.event(.info, "pipe_valves_changed", ["request_id": .string(c.requestID),
            "valves": .array((Array(writes.keys) + clears).sorted().map { .string($0) })])
        let answer = try getValves(c)
        guard case .object(var body)? = try? JSON.parse(answer.body) else { return answer }
        var warnings: [JSON] = []
        if let artifactKey = patch["ARTIFACT_ENCRYPTION_KEY"]?.stringValue, artifactKey.count < 32 {
            warnings.append(.string("ARTIFACT_ENCRYPTION_KEY is shorter than 32 characters: accepted for compatibility with the "
                                    + "reference pipe, but a short key is open to offline guessing. Use at least 32 random characters."))
        }
        body["warnings"] = .array(warnings)
        return .json(.object(body))
    }
}

/// `cryotensor cleanup`: the retention jobs.
public enum Retention {
    public static func run(db: Database, config: Config, progress: (String) -> Void) throws {
        let valves = try PipeValves.load(db: db, config: config)
        let days = valves.int("ARTIFACT_CLEANUP_DAYS")
        try db.transaction { try ChatRepository(db).purgeIndex() }
        progress("search index: merged (deleted chats' words removed)")
        let removed = try ArtifactStore.cleanup(db: db, days: days)
        progress("artifacts: removed \(removed) unused for \(days) days")
        let dir = PipeChat.sessionLogDirectory(config)
        let retention = valves.int("SESSION_LOG_RETENTION_DAYS")
        let archives = SessionLog.cleanup(dir: dir, days: retention)
        progress("session logs: removed \(archives) archives older than \(retention) days under \(dir)")
    }
}
