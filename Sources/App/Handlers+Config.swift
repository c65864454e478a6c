import Crypto
import Storage
import Support

enum ConfigHandlers {
    static let maxImportConnections = 1000

    static func get(_ c: Context) throws -> Response {
        let config = try c.services.runtimeConfig()
        return .json(["settings": RuntimeSettings.json(config), "version": JSON(Int(try RuntimeSettingsRepository(c.db).version()))])
    }

    static func patch(_ c: Context) throws -> Response {
        let object = try ConnectionHandlers.body(c)
        let repo = RuntimeSettingsRepository(c.db)
        let (merged, problems) = RuntimeSettings.validate(object, base: c.services.shared.settingsEnvironment,
                                                          overrides: try repo.all(), at: "")
        guard problems.isEmpty else { throw ConnectionHandlers.problemError(problems) }
        let version = try c.db.transaction { try repo.set(merged) }
        Log.event(.info, "config_changed", ["request_id": .string(c.requestID), "version": JSON(Int(version)),
                                            "keys": .array(object.keys.sorted().map { .string($0) })])
        return try get(c)
    }

    /// The export document. Secrets are omitted, or with `?secrets=encrypted` sealed for export
    /// (bound to the connection's name, so a fresh database with the same key can import them).
    static func export(_ c: Context) throws -> Response {
        let mode = c.request.queryItem("secrets") ?? "omit"
        guard mode == "omit" || mode == "encrypted" else {
            throw HTTPError.invalidField("secrets", "secrets must be 'encrypted' or absent (plaintext is never exported).")
        }
        let vault = c.services.shared.vault
        if mode == "encrypted" && !vault.keyring.hasKey {
            throw HTTPError(409, "encryption_key_required", "Encrypted export needs CONFIG_ENCRYPTION_KEY.")
        }
        var connections: [JSON] = []
        var omitted: [JSON] = []
        for (index, record) in try ConnectionRepository(c.db).all().enumerated() {
            var entry: [String: JSON] = ["name": .string(record.name), "kind": .string(record.kind), "base_url": .string(record.baseURL),
                                         "enabled": .bool(record.enabled)]
            if let v = record.apiVersion { entry["api_version"] = .string(v) }
            if let key = ConnectionRules.key(of: record, vault: vault) {
                if mode == "encrypted" {
                    entry["api_key"] = ["ciphertext": .string(try vault.keyring.seal(key, purpose: .export,
                        place: exportPlace(record.name)))]
                } else {
                    omitted.append(.string("connections[\(index)].api_key"))
                }
            }
            connections.append(.object(entry))
        }
        let overrides = try RuntimeSettingsRepository(c.db).all()
        let document: JSON = [
            "format": "cryotensor-config", "format_version": 1, "exported_at": JSON(Int(Clock.now())),
            "settings": RuntimeSettings.overridesJSON(overrides, effective: try c.services.runtimeConfig()),
            "connections": .array(connections), "secrets": .string(mode), "omitted_secrets": .array(omitted),
        ]
        Log.event(.info, "config_exported", ["request_id": .string(c.requestID), "secrets": .string(mode)])
        return .json(document, headers: [("Content-Disposition", "attachment; filename=\"cryotensor-config.json\"")])
    }

    static func exportPlace(_ name: String) -> String { "export/connection/\(name)/api_key" }

    /// All or nothing: every entry is checked first; any problem gives 422 and writes nothing.
    static func importDocument(_ c: Context) throws -> Response {
        let dryRun = c.request.queryItem("dry_run") == "true"
        let object = try ConnectionHandlers.body(c)
        let vault = c.services.shared.vault
        var problems: [Problem] = []
        var warnings: [JSON] = []
        var dropped: [JSON] = []

        for key in object.keys.sorted() where !["format", "format_version", "exported_at", "settings", "connections", "secrets",
            "omitted_secrets"].contains(key) {
            problems.append(Problem(path: key, code: "invalid_field", message: "Unknown top-level field '\(key)'."))
        }
        if let format = object["format"], format != "cryotensor-config" {
            problems.append(Problem(path: "format", code: "invalid_field", message: "This is not a CryoTensor export."))
        }

        // Settings.
        let settingsRepo = RuntimeSettingsRepository(c.db)
        var newOverrides: [String: String]? = nil
        if let settings = object["settings"] {
            if let patch = settings.objectValue {
                let (merged, found) = RuntimeSettings.validate(patch, base: c.services.shared.settingsEnvironment,
                                                               overrides: try settingsRepo.all(), at: "settings")
                problems += found
                if !patch.isEmpty { newOverrides = merged }
            } else {
                problems.append(Problem(path: "settings", code: "invalid_field", message: "settings must be an object."))
            }
        }

        // Connections: validated against what exists now, matched by name.
        let repo = ConnectionRepository(c.db)
        var planned: [(ConnectionDraft, existingID: Int64?)] = []
        var names = Set<String>()
        let entries = object["connections"]?.arrayValue ?? []
        if let raw = object["connections"], raw.arrayValue == nil {
            problems.append(Problem(path: "connections", code: "invalid_field", message: "connections must be a list."))
        }
        if entries.count > maxImportConnections {
            problems.append(Problem(path: "connections", code: "too_many",
                message: "At most \(maxImportConnections) connections per import."))
        }
        for (index, entry) in entries.prefix(maxImportConnections).enumerated() {
            let path = "connections[\(index)]"
            guard let fields = entry.objectValue else {
                problems.append(Problem(path: path, code: "invalid_field", message: "Each connection must be an object."))
                continue
            }
            let existing = try fields["name"]?.stringValue.flatMap { try repo.find(name: $0) }
            let currentKey = existing.flatMap { ConnectionRules.key(of: $0, vault: vault) }
            var (draft, found) = ConnectionRules.validate(fields, at: path, config: c.config, existing: existing,
                                                          currentKey: currentKey, keyRequired: false, allowCiphertext: true)
            if var d = draft {
                if names.contains(d.name) {
                    found.append(Problem(path: "\(path).name", code: "duplicate_name", message: "The name '\(d.name)' appears twice."))
                }
                names.insert(d.name)
                // A changed base URL must not carry the stored key to the new host.
                if let existing, existing.baseURL != d.baseURL, case .keep = d.key, currentKey != nil || existing.apiKeyCiphertext != nil {
                    found.append(Problem(path: "\(path).api_key", code: "secret_required",
                                         message: "The base URL changes: bring the API key again, or set clear_api_key."))
                }
                if case .set(let given) = d.key {
                    if Keyring.isEnvelope(given) {
                        do {
                            _ = try vault.keyring.openString(given, purpose: .export, place: exportPlace(d.name))
                        } catch {
                            found.append(Problem(path: "\(path).api_key", code: "undecryptable_secret",
                                                 message: "This encrypted key \(error.description)."))
                        }
                    }
                    if found.isEmpty && !vault.keyring.hasKey {
                        dropped.append(.string("\(path).api_key"))
                        d.key = .keep
                    }
                }
                draft = d
            }
            problems += found
            if let draft, found.isEmpty { planned.append((draft, existing?.id)) }
        }

        guard problems.isEmpty else {
            var e = HTTPError(422, "import_invalid", "The document has \(problems.count) problem(s); nothing was written.")
            e.extra = ["problems": .array(problems.map(\.json)), "applied": false]
            throw e
        }
        if !dropped.isEmpty {
            warnings.append("Secrets were dropped: without CONFIG_ENCRYPTION_KEY they are never stored from an import.")
        }
        let created = planned.filter { $0.existingID == nil }.count
        let updated = planned.count - created
        var applied = false
        if !dryRun {
            let keyring = vault.keyring
            let commits = try c.db.transaction {
                var commits: [() -> Void] = []
                for (draft, existingID) in planned {
                    let written = try ConnectionRules.write(draft, existingID: existingID, db: c.db, vault: vault) { given in
                        Keyring.isEnvelope(given) ? try keyring.openString(given, purpose: .export, place: exportPlace(draft.name)) : given
                    }
                    commits.append(written.afterCommit)
                }
                if let newOverrides { _ = try settingsRepo.set(newOverrides) }
                return commits
            }
            commits.forEach { $0() }
            for (_, existingID) in planned { if let existingID { ModelHandlers.invalidate(c, id: existingID) } }
            applied = true
            Log.event(.info, "config_imported", ["request_id": .string(c.requestID), "created": JSON(created), "updated": JSON(updated),
                                                 "dropped_secrets": JSON(dropped.count)])
        }
        return .json(["applied": .bool(applied), "dry_run": .bool(dryRun), "created": JSON(created), "updated": JSON(updated),
                      "settings_changed": .bool(newOverrides != nil), "dropped_secrets": .array(dropped), "warnings": .array(warnings)])
    }
}
