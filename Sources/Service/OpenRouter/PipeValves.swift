import Cache
import Crypto
import Pipe
import Storage
import Support

/// The OpenRouter pipe's valves as stored (SQLite table `pipe_valves`) and as the admin API shows them.
package struct PipeValves {
    package let stored: [String: String]
    package let encryptedStr: EncryptedStr
    package let environmentKey: Secret?
    /// The one BASE_URL the environment key may be sent to (OPENROUTER_API_KEY_BASE_URL).
    package let environmentKeyBaseURL: String

    package static func load(_ c: Scope) throws -> PipeValves { try load(db: c.db, config: c.config) }

    package static func load(db: Database, config: Config) throws -> PipeValves {
        var stored = try PipeValveRepository(db).all(pipeID: Valves.pipeID)
        // Valves of earlier versions that are now operator settings are ignored.
        stored = stored.filter { Valves.spec($0.key) != nil }
        return PipeValves(
            stored: stored, encryptedStr: EncryptedStr(webuiSecretKey: config.webuiSecretKey?.reveal()),
            environmentKey: config.openRouterAPIKey, environmentKeyBaseURL: config.openRouterKeyBaseURL)
    }

    package func value(_ name: String) -> String { stored[name] ?? Valves.spec(name)?.defaultValue ?? "" }
    package func bool(_ name: String) -> Bool { value(name) == "true" }
    package func int(_ name: String) -> Int { Int(value(name)) ?? Int(Valves.spec(name)?.defaultValue ?? "") ?? 0 }

    package func secret(_ name: String) -> EncryptedStr.Decoded { encryptedStr.decode(stored[name], name: name) }

    /// The key to send: the API_KEY valve, else OPENROUTER_API_KEY. An undecryptable valve is
    /// an error, never a fallback and never sent.
    package func apiKey() -> Result<String, ServiceError> {
        switch secret("API_KEY") {
        case .value(let v, _): return .success(v)
        case .undecryptable(let why):
            return .failure(
                ServiceError(
                    .pipeKeyUndecryptable,
                    "The pipe's API_KEY cannot be decrypted (\(why)); an admin must enter it again."))
        case .empty:
            // A changed BASE_URL detaches the environment key unless the operator bound it there.
            if let env = environmentKey, value("BASE_URL") == environmentKeyBaseURL { return .success(env.reveal()) }
            if environmentKey != nil {
                return .failure(
                    ServiceError(
                        .pipeNotConfigured,
                        "OPENROUTER_API_KEY is bound to \(environmentKeyBaseURL), not to the pipe's "
                            + "BASE_URL; an admin must enter API_KEY."))
            }
            return .failure(ServiceError(.pipeNotConfigured, "The OpenRouter pipe has no API key."))
        }
    }

    package func describeSecret(_ name: String) -> JSON {
        switch secret(name) {
        case .empty:
            if name == "API_KEY", let env = environmentKey {
                return [
                    "set": true, "storage": "environment", "fingerprint": JSON(Fingerprint.of(env.reveal())),
                    "bound_to": .string(environmentKeyBaseURL), "usable": .bool(value("BASE_URL") == environmentKeyBaseURL)
                ]
            }
            return ["set": false, "storage": .string(encryptedStr.encrypts ? "encrypted" : "plaintext"), "fingerprint": .null]
        case .value(let v, let encrypted):
            return ["set": true, "storage": .string(encrypted ? "encrypted" : "plaintext"), "fingerprint": JSON(Fingerprint.of(v))]
        case .undecryptable(let why):
            return ["set": true, "storage": "encrypted", "fingerprint": .null, "error": "undecryptable", "detail": .string(why)]
        }
    }

    package var json: JSON {
        var out: [String: JSON] = [:]
        for spec in Valves.all {
            if spec.isSecret { out[spec.name] = describeSecret(spec.name); continue }
            let v = value(spec.name)
            switch spec.kind {
            case .bool: out[spec.name] = .bool(v == "true")
            case .integer: out[spec.name] = JSON(Int(v) ?? 0)
            case .idList: out[spec.name] = ModelAccess.json(ConnectionRecord.decodeGroups(v))
            default: out[spec.name] = .string(v)
            }
        }
        return .object(out)
    }

    /// `{valves: {NAME: value, ...}, clear: [NAME, ...]}`: all checked first, then written together.
    /// Changing BASE_URL needs API_KEY again (or its clear), so the old key never goes to a new host.
    package static func update(_ c: Scope, _ body: [String: JSON]) throws {
        for key in body.keys where key != "valves" && key != "clear" {
            throw ServiceError.invalidField(key, "Unknown field '\(key)'.")
        }
        guard let patch = body["valves"]?.objectValue ?? (body["valves"] == nil ? [:] : nil) else {
            throw ServiceError.invalidField("valves", "valves must be an object.")
        }
        let clears = body["clear"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let current = try PipeValves.load(c)
        var problems: [Problem] = []
        var writes: [String: String] = [:]
        var plain: [String: String] = [:]
        for name in clears {
            guard Valves.spec(name)?.isSecret == true else {
                problems.append(Problem(path: "clear", code: .invalidField, message: "\(name) is not a secret valve.")); continue
            }
            if patch[name] != nil {
                problems.append(
                    Problem(
                        path: "valves.\(name)", code: .invalidField,
                        message: "Send \(name) or clear it, not both."))
            }
        }
        for (name, value) in patch.sorted(by: { $0.key < $1.key }) {
            guard let spec = Valves.spec(name) else {
                problems.append(Problem(path: "valves.\(name)", code: .invalidField, message: "Unknown valve \(name).")); continue
            }
            if spec.isSecret, let s = value.stringValue {
                var currentValue: String? = nil
                if case .value(let v, _) = current.secret(name) { currentValue = v }
                if Fingerprint.looksMasked(s, current: currentValue) || s.hasPrefix(EncryptedStr.prefix) {
                    problems.append(
                        Problem(
                            path: "valves.\(name)", code: .maskedValueRejected,
                            message: "This looks like a masked or stored value; send the real secret."))
                    continue
                }
            }
            switch Valves.validate(spec, value) {
            case .success(let v):
                let missingGroups =
                    spec.name == ModelAccess.pipeValve
                    ? Set(ConnectionRecord.decodeGroups(v)).subtracting(
                        try GroupRepository(c.db).existing(ConnectionRecord.decodeGroups(v)))
                    : []
                if !missingGroups.isEmpty {
                    problems.append(
                        Problem(
                            path: "valves.\(name)", code: .invalidField,
                            message: "No group has the id(s) \(missingGroups.sorted().map(String.init).joined(separator: ", "))."))
                } else if spec.name == "BASE_URL" && !c.config.allowedBaseURLs.contains(v) {
                    problems.append(
                        Problem(
                            path: "valves.BASE_URL", code: .baseURLNotAllowed,
                            message: "\(v) is not in OPENAI_ALLOWED_API_BASE_URLS."))
                } else {
                    writes[name] = spec.isSecret ? try current.encryptedStr.encode(v, name: name) : v
                    plain[name] = v
                }
            case .failure(let p):
                problems.append(Problem(path: "valves.\(name)", code: ErrorCode(rawValue: p.code) ?? .invalidField, message: p.message))
            }
        }
        if let newBase = writes["BASE_URL"], newBase != current.value("BASE_URL"), current.stored["API_KEY"] != nil,
            writes["API_KEY"] == nil, !clears.contains("API_KEY")
        {
            problems.append(
                Problem(
                    path: "valves.API_KEY", code: .secretRequired,
                    message: "BASE_URL changes: send API_KEY again, or clear it."))
        }
        guard problems.isEmpty else { throw ServiceError(problems: problems) }
        let repo = PipeValveRepository(c.db)
        let details = auditDetails(current, plain: plain, clears: clears)
        try c.db.transaction {
            try repo.apply(pipeID: Valves.pipeID, writes: writes, clears: clears)
            try c.audit(.pipeValvesUpdate, target: AuditTarget("pipe", name: Valves.pipeID), details: ["valves": .object(details)])
        }
        if let key = CacheKey.pipeModels(pipe: Valves.pipeID) { c.services.cache.delete([key]) }
        Log.event(
            .info, "pipe_valves_changed",
            [
                "request_id": .string(c.requestID),
                "valves": .array((Array(writes.keys) + clears).sorted().map { .string($0) })
            ])
    }

    /// Before and after of each plain valve that changed; of a secret valve only what happened to
    /// it (a password valve without even a fingerprint).
    static func auditDetails(_ current: PipeValves, plain: [String: String], clears: [String]) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for (name, value) in plain {
            guard let spec = Valves.spec(name) else { continue }
            if spec.isSecret {
                var old: String? = nil
                if case .value(let v, _) = current.secret(name) { old = v } else if current.stored[name] != nil { old = "\u{0}unreadable" }
                guard var change = AuditDetails.secret(before: old, after: value)?.objectValue else { continue }
                if name.contains("PASSWORD") { change["fingerprint"] = .null }
                out[name] = .object(change)
            } else if current.value(name) != value {
                out[name] = ["before": .string(current.value(name)), "after": .string(value)]
            }
        }
        for name in clears where current.stored[name] != nil { out[name] = ["change": "cleared", "fingerprint": .null] }
        return out
    }
}
