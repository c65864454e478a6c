import Crypto
import Storage
import Support

/// One reason an input is refused, with where it is (`connections[2].base_url`).
public struct Problem: Sendable {
    public let path: String
    public let code: ErrorCode
    public let message: String
    public init(path: String, code: ErrorCode, message: String) {
        self.path = path
        self.code = code
        self.message = message
    }
    package var json: JSON { ["path": .string(path), "code": .string(code.rawValue), "message": .string(message)] }
}

/// A validated connection as a handler or the importer is about to write it.
package struct ConnectionDraft {
    package enum KeyChange { case keep, set(String), clear }
    package var name: String
    package var kind: String
    package var baseURL: String
    package var apiVersion: String?
    package var enabled: Bool
    package var key: KeyChange
    /// Group ids whose members may use the models; empty: every user.
    package var allowedGroups: [Int64] = []
}

package enum ConnectionRules {
    package static let kinds = ["openai", "azure_openai", "gemini"]

    package static func place(_ id: Int64) -> String { "connection/\(id)/api_key" }

    /// Checks one connection document. `keyRequired`: an update must bring a new key or clear it
    /// (SPEC section 4), so a changed URL can never carry the old key to a new host.
    package static func validate(
        _ object: [String: JSON], at path: String, config: Config, existing: ConnectionRecord?,
        currentKey: String?, keyRequired: Bool, allowCiphertext: Bool
    ) -> (ConnectionDraft?, [Problem]) {
        var problems: [Problem] = []
        func problem(_ field: String, _ code: ErrorCode, _ message: String) {
            problems.append(Problem(path: path.isEmpty ? field : "\(path).\(field)", code: code, message: message))
        }
        let known: Set<String> = [
            "name", "kind", "base_url", "api_version", "enabled", "api_key", "clear_api_key", "id", "allowed_groups"
        ]
        for key in object.keys.sorted() where !known.contains(key) { problem(key, .invalidField, "Unknown field '\(key)'.") }

        let name = object["name"]?.stringValue ?? existing?.name
        // No control characters, as the API's declared input (an import's names come here directly; PostgreSQL cannot store U+0000).
        let nameIsValid =
            name.map { !$0.isEmpty && $0.count <= 100 && !$0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } } ?? false
        if !nameIsValid {
            problem("name", .invalidField, "A name of 1 to 100 characters is required.")
        }
        let kind = object["kind"]?.stringValue ?? existing?.kind ?? "openai"
        if !kinds.contains(kind) { problem("kind", .invalidField, "Kind must be one of: \(kinds.joined(separator: ", ")).") }
        if let v = object["enabled"], v.boolValue == nil { problem("enabled", .invalidField, "enabled must be true or false.") }
        let enabled = object["enabled"]?.boolValue ?? existing?.enabled ?? true
        var apiVersion = existing?.apiVersion
        if let v = object["api_version"] {
            if v == .null {
                apiVersion = nil
            } else if let s = v.stringValue, !s.isEmpty, s.count <= 40,
                s.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." })
            {
                apiVersion = s
            } else {
                problem("api_version", .invalidField, "api_version must be a version string such as 2024-10-21.")
            }
        }
        if kind == "azure_openai" && apiVersion == nil {
            problem(
                "api_version", .invalidField,
                "Azure OpenAI connections need an api_version.")
        }

        var baseURL = ""
        if let raw = object["base_url"]?.stringValue ?? existing?.baseURL {
            switch BaseURL.normalize(raw) {
            case .success(let normal) where config.allowedBaseURLs.contains(normal):
                baseURL = normal
            case .success(let normal):
                problem("base_url", .baseURLNotAllowed, "\(normal) is not in OPENAI_ALLOWED_API_BASE_URLS.")
            case .failure(let why):
                problem(
                    "base_url", .baseURLNotAllowed,
                    "The base URL is not acceptable (\(why.rawValue)); it must be an allowed http(s) URL.")
            }
        } else {
            problem("base_url", .invalidField, "base_url is required.")
        }

        var key = ConnectionDraft.KeyChange.keep
        let clear = object["clear_api_key"]?.boolValue ?? false
        if let v = object["clear_api_key"], v.boolValue == nil {
            problem(
                "clear_api_key", .invalidField,
                "clear_api_key must be true or false.")
        }
        switch object["api_key"] {
        case .string(let s)?:
            if clear {
                problem("api_key", .invalidField, "Send either api_key or clear_api_key, not both.")
            } else if Fingerprint.looksMasked(s, current: currentKey) {
                problem("api_key", .maskedValueRejected, "This looks like a masked key; send the real key or clear_api_key.")
            } else if s.isEmpty || s.count > 4096
                || s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace })
            {
                problem("api_key", .invalidField, "api_key must be 1 to 4096 characters without spaces or control characters.")
            } else if Keyring.isEnvelope(s) && !allowCiphertext {
                problem("api_key", .invalidField, "Send the key itself, not a ciphertext.")
            } else {
                key = .set(s)
            }
        case .null?, nil:
            if clear {
                key = .clear
            } else if keyRequired {
                problem("api_key", .secretRequired, "An update must bring the API key again, or set clear_api_key.")
            }
        case .object?:
            // Import documents carry exported keys as {"ciphertext": "ct1..."}.
            if allowCiphertext, let c = object["api_key"]?["ciphertext"]?.stringValue {
                key = .set(c)
            } else {
                problem("api_key", .invalidField, "api_key must be a string.")
            }
        default:
            problem("api_key", .invalidField, "api_key must be a string.")
        }
        var allowedGroups = existing?.allowedGroups ?? []
        if let raw = object["allowed_groups"] {
            switch ModelAccess.groupListKind.check(raw, name: "allowed_groups") {
            case .success(let list): allowedGroups = list.arrayValue?.compactMap { $0.intValue.map(Int64.init) } ?? []
            case .failure(let refusal): problem("allowed_groups", .invalidField, refusal.message)
            }
        }
        guard problems.isEmpty, let name else { return (nil, problems) }
        return (
            ConnectionDraft(
                name: name, kind: kind, baseURL: baseURL, apiVersion: kind == "azure_openai" ? apiVersion : nil,
                enabled: enabled, key: key, allowedGroups: allowedGroups), []
        )
    }

    /// Writes a draft (insert when `existingID` is nil) inside the caller's transaction. Returns
    /// the id and what to do once the transaction has committed (memory-mode key changes).
    package static func write(
        _ draft: ConnectionDraft, existingID: Int64?, db: Database, vault: SecretVault,
        plaintextKey: (String) throws -> String = { $0 }
    ) throws -> (id: Int64, afterCommit: () -> Void) {
        let repo = ConnectionRepository(db)
        var record = ConnectionRecord(
            name: draft.name, kind: draft.kind, baseURL: draft.baseURL, apiVersion: draft.apiVersion,
            enabled: draft.enabled, apiKeyCiphertext: nil, allowedGroups: draft.allowedGroups)
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

    package static func json(_ c: ConnectionRecord, vault: SecretVault) -> JSON {
        [
            "id": .number(Double(c.id)), "name": .string(c.name), "kind": .string(c.kind), "base_url": .string(c.baseURL),
            "api_version": JSON(c.apiVersion), "enabled": .bool(c.enabled),
            "allowed_groups": ModelAccess.json(c.allowedGroups),
            "api_key": vault.describe(place: place(c.id), ciphertext: c.apiKeyCiphertext)
        ]
    }

    /// The connection's key in plaintext, for calling its upstream; nil when unset or undecryptable.
    package static func key(of c: ConnectionRecord, vault: SecretVault) -> String? {
        if case .value(let v) = vault.read(place: place(c.id), ciphertext: c.apiKeyCiphertext) { return v }
        return nil
    }
}
