import Crypto
import Storage
import Support

/// One reason an input is refused, with where it is (`connections[2].base_url`).
public struct Problem: Sendable {
    public let path: String
    public let code: String
    public let message: String
    var json: JSON { ["path": .string(path), "code": .string(code), "message": .string(message)] }
}

/// A validated connection as a handler or the importer is about to write it.
struct ConnectionDraft {
    enum KeyChange { case keep, set(String), clear }
    var name: String
    var kind: String
    var baseURL: String
    var apiVersion: String?
    var enabled: Bool
    var key: KeyChange
}

enum ConnectionRules {
    static let kinds = ["openai", "azure_openai", "gemini"]

    static func place(_ id: Int64) -> String { "connection/\(id)/api_key" }

    /// Checks one connection document. `keyRequired`: an update must bring a new key or clear it
    /// (SPEC section 4), so a changed URL can never carry the old key to a new host.
    static func validate(_ object: [String: JSON], at path: String, config: Config, existing: ConnectionRecord?,
                         currentKey: String?, keyRequired: Bool, allowCiphertext: Bool) -> (ConnectionDraft?, [Problem]) {
        var problems: [Problem] = []
        func problem(_ field: String, _ code: String, _ message: String) {
            problems.append(Problem(path: path.isEmpty ? field : "\(path).\(field)", code: code, message: message))
        }
        let known: Set<String> = ["name", "kind", "base_url", "api_version", "enabled", "api_key", "clear_api_key", "id"]
        for key in object.keys.sorted() where !known.contains(key) { problem(key, "invalid_field", "Unknown field '\(key)'.") }

        let name = object["name"]?.stringValue ?? existing?.name
        if name == nil || name!.isEmpty || name!.count > 100 || name!.contains(where: { $0.isNewline }) {
            problem("name", "invalid_field", "A name of 1 to 100 characters is required.")
        }
        let kind = object["kind"]?.stringValue ?? existing?.kind ?? "openai"
        if !kinds.contains(kind) { problem("kind", "invalid_field", "Kind must be one of: \(kinds.joined(separator: ", ")).") }
        if let v = object["enabled"], v.boolValue == nil { problem("enabled", "invalid_field", "enabled must be true or false.") }
        let enabled = object["enabled"]?.boolValue ?? existing?.enabled ?? true
        var apiVersion = existing?.apiVersion
        if let v = object["api_version"] {
            if v == .null {
                apiVersion = nil
            } else if let s = v.stringValue, !s.isEmpty, s.count <= 40,
                      s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }) {
                apiVersion = s
            } else { problem("api_version", "invalid_field", "api_version must be a version string such as 2024-10-21.") }
        }
        if kind == "azure_openai" && apiVersion == nil { problem("api_version", "invalid_field",
            "Azure OpenAI connections need an api_version.") }

        var baseURL = ""
        if let raw = object["base_url"]?.stringValue ?? existing?.baseURL {
            switch BaseURL.normalize(raw) {
            case .success(let normal) where config.allowedBaseURLs.contains(normal):
                baseURL = normal
            case .success(let normal):
                problem("base_url", "base_url_not_allowed", "\(normal) is not in OPENAI_ALLOWED_API_BASE_URLS.")
            case .failure(let why):
                problem("base_url", "base_url_not_allowed",
                    "The base URL is not acceptable (\(why.rawValue)); it must be an allowed http(s) URL.")
            }
        } else {
            problem("base_url", "invalid_field", "base_url is required.")
        }

        var key = ConnectionDraft.KeyChange.keep
        let clear = object["clear_api_key"]?.boolValue ?? false
        if let v = object["clear_api_key"], v.boolValue == nil { problem("clear_api_key", "invalid_field",
            "clear_api_key must be true or false.") }
        switch object["api_key"] {
        case .string(let s)?:
            if clear {
                problem("api_key", "invalid_field", "Send either api_key or clear_api_key, not both.")
            } else if Fingerprint.looksMasked(s, current: currentKey) {
                problem("api_key", "masked_value_rejected", "This looks like a masked key; send the real key or clear_api_key.")
            } else if s.isEmpty || s.count > 4096
                        || s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace }) {
                problem("api_key", "invalid_field", "api_key must be 1 to 4096 characters without spaces or control characters.")
            } else if Keyring.isEnvelope(s) && !allowCiphertext {
                problem("api_key", "invalid_field", "Send the key itself, not a ciphertext.")
            } else {
                key = .set(s)
            }
        case .null?, nil:
            if clear { key = .clear } else if keyRequired {
                problem("api_key", "secret_required", "An update must bring the API key again, or set clear_api_key.")
            }
        case .object?:
            // Import documents carry exported keys as {"ciphertext": "ct1..."}.
            if allowCiphertext, let c = object["api_key"]?["ciphertext"]?.stringValue { key = .set(c) } else {
                problem("api_key", "invalid_field", "api_key must be a string.")
            }
        default:
            problem("api_key", "invalid_field", "api_key must be a string.")
        }
        guard problems.isEmpty, let name else { return (nil, problems) }
        return (ConnectionDraft(name: name, kind: kind, baseURL: baseURL, apiVersion: kind == "azure_openai" ? apiVersion : nil,
                                enabled: enabled, key: key), [])
    }

    /// Writes a draft (insert when `existingID` is nil) inside the caller's transaction. Returns
    /// the id and what to do once the transaction has committed (memory-mode key changes).
    static func write(_ draft: ConnectionDraft, existingID: Int64?, db: Database, vault: SecretVault,
                      plaintextKey: (String) throws -> String = { $0 }) throws -> (id: Int64, afterCommit: () -> Void) {
        let repo = ConnectionRepository(db)
        var record = ConnectionRecord(name: draft.name, kind: draft.kind, baseURL: draft.baseURL, apiVersion: draft.apiVersion,
                                      enabled: draft.enabled, apiKeyCiphertext: nil)
        let id: Int64
        var urlChanged = false
        if let existingID {
            urlChanged = try repo.find(id: existingID).map { $0.baseURL != draft.baseURL } ?? false
            record.id = existingID
            try repo.update(record)
            id = existingID
        } else {
            id = try repo.insert(record)
        }
        switch draft.key {
        case .keep where urlChanged:
            // The mechanism behind SPEC section 4: whatever path led here (an update, an import
            // whose key was dropped), a new base URL never keeps a stored or in-memory key.
            try repo.setCiphertext(id: id, nil)
            return (id, { vault.clear(place: place(id)) })
        case .keep:
            return (id, {})
        case .clear:
            try repo.setCiphertext(id: id, nil)
            return (id, { vault.clear(place: place(id)) })
        case .set(let given):
            let plaintext = try plaintextKey(given)
            let sealed = try vault.seal(plaintext, place: place(id))
            try repo.setCiphertext(id: id, sealed)
            return (id, { if sealed == nil { vault.remember(plaintext, place: place(id)) } })
        }
    }

    static func json(_ c: ConnectionRecord, vault: SecretVault) -> JSON {
        ["id": .number(Double(c.id)), "name": .string(c.name), "kind": .string(c.kind), "base_url": .string(c.baseURL),
         "api_version": JSON(c.apiVersion), "enabled": .bool(c.enabled),
         "api_key": vault.describe(place: place(c.id), ciphertext: c.apiKeyCiphertext)]
    }

    /// The connection's key in plaintext, for calling its upstream; nil when unset or undecryptable.
    static func key(of c: ConnectionRecord, vault: SecretVault) -> String? {
        if case .value(let v) = vault.read(place: place(c.id), ciphertext: c.apiKeyCiphertext) { return v }
        return nil
    }
}

enum ConnectionHandlers {
    static func problemError(_ problems: [Problem]) -> HTTPError {
        let first = problems[0]
        var e = HTTPError(400, first.code, first.message, field: first.path)
        e.extra = ["problems": .array(problems.map(\.json))]
        return e
    }

    static func body(_ c: Context) throws(HTTPError) -> [String: JSON] {
        let document: JSON
        do { document = try JSON.parse(c.request.body) } catch { throw HTTPError.invalidJSON(error.description) }
        guard let object = document.objectValue else { throw HTTPError.invalidJSON("expected an object") }
        return object
    }

    static func list(_ c: Context) throws -> Response {
        let vault = c.services.shared.vault
        return .json(["connections": .array(try ConnectionRepository(c.db).all().map { ConnectionRules.json($0, vault: vault) })])
    }

    static func get(_ c: Context) throws -> Response {
        guard let record = try ConnectionRepository(c.db).find(id: try c.id()) else { throw HTTPError.notFound }
        return .json(ConnectionRules.json(record, vault: c.services.shared.vault))
    }

    static func create(_ c: Context) throws -> Response {
        let object = try body(c)
        let (draft, problems) = ConnectionRules.validate(object, at: "", config: c.config, existing: nil, currentKey: nil,
                                                         keyRequired: false, allowCiphertext: false)
        guard let draft else { throw problemError(problems) }
        let repo = ConnectionRepository(c.db)
        guard try repo.find(name: draft.name) == nil else { throw HTTPError(409, "name_taken",
            "A connection with this name exists.", field: "name") }
        let vault = c.services.shared.vault
        let written = try c.db.transaction { try ConnectionRules.write(draft, existingID: nil, db: c.db, vault: vault) }
        written.afterCommit()
        let id = written.id
        guard let record = try repo.find(id: id) else { throw HTTPError.notFound }
        Log.event(.info, "connection_created", ["request_id": .string(c.requestID), "connection_id": .number(Double(id)),
            "base_url": .string(record.baseURL)])
        return .json(ConnectionRules.json(record, vault: vault), status: 201)
    }

    static func update(_ c: Context) throws -> Response {
        let id = try c.id()
        let repo = ConnectionRepository(c.db)
        guard let existing = try repo.find(id: id) else { throw HTTPError.notFound }
        let vault = c.services.shared.vault
        let object = try body(c)
        let (draft, problems) = ConnectionRules.validate(object, at: "", config: c.config, existing: existing,
                                                         currentKey: ConnectionRules.key(of: existing, vault: vault),
                                                         keyRequired: true, allowCiphertext: false)
        guard let draft else { throw problemError(problems) }
        if let other = try repo.find(name: draft.name), other.id != id {
            throw HTTPError(409, "name_taken", "A connection with this name exists.", field: "name")
        }
        let written = try c.db.transaction { try ConnectionRules.write(draft, existingID: id, db: c.db, vault: vault) }
        written.afterCommit()
        ModelHandlers.invalidate(c, id: id)
        guard let record = try repo.find(id: id) else { throw HTTPError.notFound }
        Log.event(.info, "connection_updated", ["request_id": .string(c.requestID), "connection_id": .number(Double(id))])
        return .json(ConnectionRules.json(record, vault: vault))
    }

    static func delete(_ c: Context) throws -> Response {
        let id = try c.id()
        guard try ConnectionRepository(c.db).delete(id: id) else { throw HTTPError.notFound }
        c.services.shared.vault.clear(place: ConnectionRules.place(id))
        ModelHandlers.invalidate(c, id: id)
        return .noContent()
    }
}
