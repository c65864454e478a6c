import Storage
import Support

/// Creating, changing and deleting a connection, each with its audit event in the same transaction.
package enum Connections {
    package static func create(_ s: Scope, _ object: [String: JSON]) throws -> ConnectionRecord {
        let (draft, problems) = ConnectionRules.validate(
            object, at: "", config: s.config, existing: nil, currentKey: nil,
            keyRequired: false, allowCiphertext: false)
        guard let draft else { throw ServiceError(problems: problems) }
        try ModelAccess.requireGroupsExist(draft.allowedGroups, s.db, field: "allowed_groups")
        let repo = ConnectionRepository(s.db)
        guard try repo.find(name: draft.name) == nil else {
            throw ServiceError(
                .nameTaken, "A connection with this name exists.",
                field: "name")
        }
        let vault = s.services.shared.vault
        let (written, record) = try s.db.transaction {
            let written = try ConnectionRules.write(draft, existingID: nil, db: s.db, vault: vault)
            guard let record = try repo.find(id: written.id) else { throw ServiceError.notFound }
            var details = fields(record)
            if let key = keyChange(hadKey: false, oldKey: nil, draft.key, urlChanged: false) { details["api_key"] = key }
            try s.audit(.connectionCreate, target: target(record), details: details)
            return (written, record)
        }
        written.afterCommit()
        return record
    }

    package static func update(_ s: Scope, id: Int64, _ object: [String: JSON]) throws -> ConnectionRecord {
        let repo = ConnectionRepository(s.db)
        guard let existing = try repo.find(id: id) else { throw ServiceError.notFound }
        let vault = s.services.shared.vault
        let oldKey = ConnectionRules.key(of: existing, vault: vault)
        let (draft, problems) = ConnectionRules.validate(
            object, at: "", config: s.config, existing: existing, currentKey: oldKey,
            keyRequired: true, allowCiphertext: false)
        guard let draft else { throw ServiceError(problems: problems) }
        if draft.allowedGroups != existing.allowedGroups {
            try ModelAccess.requireGroupsExist(draft.allowedGroups, s.db, field: "allowed_groups")
        }
        if let other = try repo.find(name: draft.name), other.id != id {
            throw ServiceError(.nameTaken, "A connection with this name exists.", field: "name")
        }
        let hadKey = existing.apiKeyCiphertext != nil || oldKey != nil
        let (written, record) = try s.db.transaction {
            let written = try ConnectionRules.write(draft, existingID: id, db: s.db, vault: vault)
            guard let record = try repo.find(id: id) else { throw ServiceError.notFound }
            var details = AuditDetails.changes(fields(existing), fields(record))
            let urlChanged = existing.baseURL != record.baseURL
            if let key = keyChange(hadKey: hadKey, oldKey: oldKey, draft.key, urlChanged: urlChanged) { details["api_key"] = key }
            try s.audit(.connectionUpdate, target: target(record), details: details)
            return (written, record)
        }
        written.afterCommit()
        ModelCatalog.invalidate(s, id: id)
        return record
    }

    package static func delete(_ s: Scope, id: Int64) throws {
        let repo = ConnectionRepository(s.db)
        try s.db.transaction {
            guard let existing = try repo.find(id: id), try repo.delete(id: id) else { throw ServiceError.notFound }
            var details = fields(existing)
            details["api_key_was_set"] = .bool(
                existing.apiKeyCiphertext != nil
                    || ConnectionRules.key(of: existing, vault: s.services.shared.vault) != nil)
            try s.audit(.connectionDelete, target: target(existing), details: details)
        }
        s.services.shared.vault.clear(place: ConnectionRules.place(id))
        ModelCatalog.invalidate(s, id: id)
    }

    static func target(_ r: ConnectionRecord) -> AuditTarget { AuditTarget("connection", id: r.id, name: r.name) }

    /// The non-secret fields, as before/after compares them.
    package static func fields(_ r: ConnectionRecord) -> [String: JSON] {
        [
            "name": .string(r.name), "kind": .string(r.kind), "base_url": .string(r.baseURL), "api_version": JSON(r.apiVersion),
            "enabled": .bool(r.enabled), "allowed_groups": ModelAccess.json(r.allowedGroups)
        ]
    }

    /// What happened to the key: set, replaced or cleared (also by a changed URL), with the new
    /// key's fingerprint; nil when it was kept.
    package static func keyChange(hadKey: Bool, oldKey: String?, _ change: ConnectionDraft.KeyChange, urlChanged: Bool) -> JSON? {
        switch change {
        case .keep where urlChanged && hadKey: return ["change": "cleared", "fingerprint": .null, "reason": "base_url_changed"]
        case .keep: return nil
        case .clear: return hadKey ? ["change": "cleared", "fingerprint": .null] : nil
        case .set(let key):
            // An undecryptable old key still counts as one being replaced.
            return AuditDetails.secret(before: hadKey ? (oldKey ?? "\u{0}undecryptable") : nil, after: key)
        }
    }
}
