import Crypto
import Storage
import Support

/// Export and import of the configuration (SPEC section 6): connections matched by name, the
/// runtime settings, secrets omitted or sealed for export. An import is all or nothing.
package enum ConfigTransfer {
    package static let maxImportConnections = 1000

    /// The export document. Secrets are omitted, or with `?secrets=encrypted` sealed for export
    /// (bound to the connection's name, so a fresh database with the same key can import them).
    package static func export(_ c: Scope, secrets mode: String) throws -> JSON {
        guard mode == "omit" || mode == "encrypted" else {
            throw ServiceError.invalidField("secrets", "secrets must be 'encrypted' or absent (plaintext is never exported).")
        }
        let vault = c.services.shared.vault
        if mode == "encrypted" && !vault.keyring.hasKey {
            throw ServiceError(.encryptionKeyRequired, "Encrypted export needs CONFIG_ENCRYPTION_KEY.")
        }
        var connections: [JSON] = []
        var omitted: [JSON] = []
        for (index, record) in try ConnectionRepository(c.db).all().enumerated() {
            var entry: [String: JSON] = [
                "name": .string(record.name), "kind": .string(record.kind), "base_url": .string(record.baseURL),
                "enabled": .bool(record.enabled), "allowed_groups": ModelAccess.json(record.allowedGroups)
            ]
            if let v = record.apiVersion { entry["api_version"] = .string(v) }
            if let key = ConnectionRules.key(of: record, vault: vault) {
                if mode == "encrypted" {
                    entry["api_key"] = [
                        "ciphertext": .string(
                            try vault.keyring.seal(
                                key, purpose: .export,
                                place: exportPlace(record.name)))
                    ]
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
            "connections": .array(connections), "secrets": .string(mode), "omitted_secrets": .array(omitted)
        ]
        // Recorded before anything leaves: an export the trail cannot hold is not given out.
        try c.audit(
            .configExport, target: AuditTarget("config", name: "export"),
            details: [
                "secrets": .string(mode), "connections": JSON(connections.count), "omitted_secrets": JSON(omitted.count),
                "sealed_secrets": JSON(mode == "encrypted" ? connections.filter { $0["api_key"] != nil }.count : 0)
            ])
        Log.event(.info, "config_exported", ["request_id": .string(c.requestID), "secrets": .string(mode)])
        return document
    }

    package static func exportPlace(_ name: String) -> String { "export/connection/\(name)/api_key" }

    /// All or nothing: every entry is checked first; any problem gives 422 and writes nothing.
    /// `problems`: what the caller found already (the declared input's), reported with the rest.
    package static func importDocument(_ c: Scope, _ object: [String: JSON], dryRun: Bool, problems found: [Problem] = []) throws -> JSON {
        let vault = c.services.shared.vault
        var problems = found
        var warnings: [JSON] = []
        var dropped: [JSON] = []

        for key in object.keys.sorted()
        where ![
            "format", "format_version", "exported_at", "settings", "connections", "secrets",
            "omitted_secrets"
        ].contains(key) && !found.contains(where: { $0.path == key }) {
            problems.append(Problem(path: key, code: .invalidField, message: "Unknown top-level field '\(key)'."))
        }
        if let format = object["format"], format != "cryotensor-config" {
            problems.append(Problem(path: "format", code: .invalidField, message: "This is not a CryoTensor export."))
        }

        // Settings.
        let settingsRepo = RuntimeSettingsRepository(c.db)
        var newOverrides: [String: String]? = nil
        if let settings = object["settings"] {
            if let patch = settings.objectValue {
                let (merged, found) = RuntimeSettings.validate(
                    patch, base: c.services.shared.settingsEnvironment,
                    overrides: try settingsRepo.all(), at: "settings")
                problems += found
                if !patch.isEmpty { newOverrides = merged }
            } else {
                problems.append(Problem(path: "settings", code: .invalidField, message: "settings must be an object."))
            }
        }

        // Connections: validated against what exists now, matched by name.
        let repo = ConnectionRepository(c.db)
        var planned: [(ConnectionDraft, existingID: Int64?)] = []
        var names = Set<String>()
        let entries = object["connections"]?.arrayValue ?? []
        if let raw = object["connections"], raw.arrayValue == nil {
            problems.append(Problem(path: "connections", code: .invalidField, message: "connections must be a list."))
        }
        if entries.count > maxImportConnections {
            problems.append(
                Problem(
                    path: "connections", code: .tooMany,
                    message: "At most \(maxImportConnections) connections per import."))
        }
        for (index, entry) in entries.prefix(maxImportConnections).enumerated() {
            let path = "connections[\(index)]"
            guard let fields = entry.objectValue else {
                problems.append(Problem(path: path, code: .invalidField, message: "Each connection must be an object."))
                continue
            }
            // A name with U+0000 matches nothing (and PostgreSQL cannot compare it): validation names the problem.
            let existing = try fields["name"]?.stringValue.flatMap { $0.utf8.contains(0) ? nil : try repo.find(name: $0) }
            let currentKey = existing.flatMap { ConnectionRules.key(of: $0, vault: vault) }
            var (draft, found) = ConnectionRules.validate(
                fields, at: path, config: c.config, existing: existing,
                currentKey: currentKey, keyRequired: false, allowCiphertext: true)
            if var d = draft {
                if names.contains(d.name) {
                    found.append(Problem(path: "\(path).name", code: .duplicateName, message: "The name '\(d.name)' appears twice."))
                }
                names.insert(d.name)
                // A changed base URL must not carry the stored key to the new host.
                if let existing, existing.baseURL != d.baseURL, case .keep = d.key, currentKey != nil || existing.apiKeyCiphertext != nil {
                    found.append(
                        Problem(
                            path: "\(path).api_key", code: .secretRequired,
                            message: "The base URL changes: bring the API key again, or set clear_api_key."))
                }
                if case .set(let given) = d.key {
                    if Keyring.isEnvelope(given) {
                        do {
                            _ = try vault.keyring.openString(given, purpose: .export, place: exportPlace(d.name))
                        } catch {
                            found.append(
                                Problem(
                                    path: "\(path).api_key", code: .undecryptableSecret,
                                    message: "This encrypted key \(error.description)."))
                        }
                    }
                    if found.isEmpty && !vault.keyring.hasKey {
                        dropped.append(.string("\(path).api_key"))
                        d.key = .keep
                    }
                }
                // A group id must name a group of this service: an unknown one could later be made and inherit access.
                if d.allowedGroups != (existing?.allowedGroups ?? []) {
                    let missing = Set(d.allowedGroups).subtracting(try GroupRepository(c.db).existing(d.allowedGroups))
                    if !missing.isEmpty {
                        found.append(
                            Problem(
                                path: "\(path).allowed_groups", code: .invalidField,
                                message: "No group has the id(s) \(missing.sorted().map(String.init).joined(separator: ", "))."))
                    }
                }
                draft = d
            }
            problems += found
            if let draft, found.isEmpty { planned.append((draft, existing?.id)) }
        }

        // A field the caller's checks already refused is reported once, in their words.
        problems = found + problems.dropFirst(found.count).filter { p in !found.contains { $0.path == p.path } }
        guard problems.isEmpty else {
            var e = ServiceError(.importInvalid, "The document has \(problems.count) problem(s); nothing was written.")
            e.extra = ["problems": .array(problems.map(\.json)), "applied": false]
            throw e
        }
        if !dropped.isEmpty {
            warnings.append("Secrets were dropped: without CONFIG_ENCRYPTION_KEY they are never stored from an import.")
        }
        let created = planned.filter { $0.existingID == nil }.count
        let updated = planned.count - created
        var applied = false
        var details: [String: JSON] = [
            "dry_run": .bool(dryRun), "created": JSON(created), "updated": JSON(updated),
            "dropped_secrets": JSON(dropped.count),
            "connections": .array(try planned.map { try importDetails($0.0, existingID: $0.existingID, c) })
        ]
        if let newOverrides {
            let before = RuntimeSettings.json(try c.services.runtimeConfig()).objectValue ?? [:]
            let env = c.services.shared.settingsEnvironment.merging(newOverrides) { _, new in new }
            let after = RuntimeSettings.json(try Config.load(environment: env)).objectValue ?? [:]
            details["settings"] = .object(AuditDetails.changes(before, after))
        }
        let target = AuditTarget("config", name: "import")
        if dryRun { try c.audit(.configImport, target: target, details: details) }
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
                try c.audit(.configImport, target: target, details: details)
                return commits
            }
            commits.forEach { $0() }
            for (_, existingID) in planned { if let existingID { ModelCatalog.invalidate(c, id: existingID) } }
            applied = true
            Log.event(
                .info, "config_imported",
                [
                    "request_id": .string(c.requestID), "created": JSON(created), "updated": JSON(updated),
                    "dropped_secrets": JSON(dropped.count)
                ])
        }
        return .object([
            "applied": .bool(applied), "dry_run": .bool(dryRun), "created": JSON(created), "updated": JSON(updated),
            "settings_changed": .bool(newOverrides != nil), "dropped_secrets": .array(dropped), "warnings": .array(warnings)
        ])
    }

    /// One imported connection as the trail shows it: created or updated, the before and after
    /// of its fields, and what happened to its key (the fingerprint of the opened key, never it).
    static func importDetails(_ draft: ConnectionDraft, existingID: Int64?, _ c: Scope) throws -> JSON {
        let vault = c.services.shared.vault
        let existing = try existingID.flatMap { try ConnectionRepository(c.db).find(id: $0) }
        let after = ConnectionRecord(
            id: existingID ?? 0, name: draft.name, kind: draft.kind, baseURL: draft.baseURL,
            apiVersion: draft.apiVersion, enabled: draft.enabled, apiKeyCiphertext: nil, allowedGroups: draft.allowedGroups)
        var out: [String: JSON] = ["name": .string(draft.name), "action": .string(existing == nil ? "created" : "updated")]
        let before = existing.map(Connections.fields) ?? [:]
        out["changes"] = .object(AuditDetails.changes(before, Connections.fields(after)))
        var key = draft.key
        if case .set(let given) = key, Keyring.isEnvelope(given) {
            key = .set((try? vault.keyring.openString(given, purpose: .export, place: exportPlace(draft.name))) ?? given)
        }
        let oldKey = existing.flatMap { ConnectionRules.key(of: $0, vault: vault) }
        let hadKey = existing.map { $0.apiKeyCiphertext != nil || oldKey != nil } ?? false
        let urlChanged = existing.map { $0.baseURL != draft.baseURL } ?? false
        if let change = Connections.keyChange(hadKey: hadKey, oldKey: oldKey, key, urlChanged: urlChanged) {
            out["api_key"] = change
        }
        return .object(out)
    }
}
