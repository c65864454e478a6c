import Foundation
import Storage
import Support

/// What an admin asks of a group: each field nil when not sent. `quota` is `.some(nil)` for an
/// explicit `null` (no quota from this group).
package struct GroupChange {
    package var name: String?
    package var members: [Int64]?
    package var quota: Int64??

    package init(name: String? = nil, members: [Int64]? = nil, quota: Int64?? = nil) {
        self.name = name
        self.members = members
        self.quota = quota
    }
}

/// Creating, changing and deleting groups (SPEC section 12), each with its audit event in the
/// same transaction. Local groups are the admins' own. An `oidc` group's name and members come
/// from sign-in (the groups claim): an admin may set its quota or delete it (the next sign-in
/// naming it makes it again, empty of everyone but that user), never rename it or edit members.
package enum Groups {
    /// The largest `daily_token_quota`: a trillion tokens a day is no limit at all.
    package static let maxQuota = 1_000_000_000_000
    package static let maxMembers = 10_000

    package static func json(_ g: GroupRecord) -> JSON {
        [
            "id": .number(Double(g.id)), "name": .string(g.name), "source": .string(g.source.rawValue),
            "members": ModelAccess.json(g.members), "daily_token_quota": g.dailyTokenQuota.map { .number(Double($0)) } ?? .null,
            "created_at": .number(Double(g.createdAt))
        ]
    }

    /// The fields the trail compares.
    static func fields(_ g: GroupRecord) -> [String: JSON] {
        [
            "name": .string(g.name), "source": .string(g.source.rawValue), "members": ModelAccess.json(g.members),
            "daily_token_quota": g.dailyTokenQuota.map { .number(Double($0)) } ?? .null
        ]
    }

    static func target(_ g: GroupRecord) -> AuditTarget { AuditTarget("group", id: g.id, name: g.name) }

    static func checkName(_ name: String) throws {
        guard GroupRepository.isValidName(name), name.trimmingCharacters(in: .whitespaces) == name else {
            throw ServiceError.invalidField(
                "name", "A group name is 1 to \(GroupRepository.maxNameBytes) bytes, without control characters or outer spaces.")
        }
    }

    static func checkMembers(_ ids: [Int64], _ db: Database) throws {
        let users = UserRepository(db)
        let missing = try ids.filter { try users.find(id: $0) == nil }
        guard missing.isEmpty else {
            throw ServiceError.invalidField("members", "No user has the id(s) \(missing.map(String.init).joined(separator: ", ")).")
        }
    }

    static func checkQuota(_ quota: Int64?) throws {
        if let quota, !(0...Int64(maxQuota)).contains(quota) {
            throw ServiceError.invalidField("daily_token_quota", "daily_token_quota must be null or an integer from 0 to \(maxQuota).")
        }
    }

    package static func create(_ s: Scope, name: String, members: [Int64], quota: Int64?) throws -> GroupRecord {
        try checkName(name)
        try checkQuota(quota)
        let repo = GroupRepository(s.db)
        try checkMembers(members, s.db)
        return try s.db.transaction {
            guard try repo.find(name: name) == nil else { throw ServiceError(.nameTaken, "A group with this name exists.", field: "name") }
            let made = try repo.create(name: name, source: .local, dailyTokenQuota: quota)
            try repo.setMembers(groupID: made.id, userIDs: members, source: .local)
            guard let group = try repo.find(id: made.id) else { throw ServiceError.notFound }
            try s.audit(.groupCreate, target: target(group), details: fields(group))
            return group
        }
    }

    package static func update(_ s: Scope, id: Int64, _ change: GroupChange) throws -> GroupRecord {
        let repo = GroupRepository(s.db)
        guard let existing = try repo.find(id: id) else { throw ServiceError.notFound }
        if existing.source == .oidc {
            if let name = change.name, name != existing.name {
                throw ServiceError.invalidField("name", "An oidc group is named by the identity provider; only its quota can change here.")
            }
            if let members = change.members, members != existing.members {
                throw ServiceError.invalidField("members", "An oidc group's members come from sign-in; only its quota can change here.")
            }
        }
        if let name = change.name { try checkName(name) }
        if let quota = change.quota { try checkQuota(quota) }
        if let members = change.members { try checkMembers(members, s.db) }
        return try s.db.transaction {
            if let name = change.name, name != existing.name {
                guard try repo.find(name: name) == nil else {
                    throw ServiceError(.nameTaken, "A group with this name exists.", field: "name")
                }
                try repo.rename(id: id, to: name)
            }
            if let quota = change.quota { try repo.setDailyTokenQuota(id: id, quota) }
            if let members = change.members, existing.source == .local {
                try repo.setMembers(groupID: id, userIDs: members, source: .local)
            }
            guard let group = try repo.find(id: id) else { throw ServiceError.notFound }
            let details = AuditDetails.changes(fields(existing), fields(group))
            if !details.isEmpty { try s.audit(.groupUpdate, target: target(group), details: details) }
            return group
        }
    }

    /// Deletes a group and its memberships. Connections and the pipe keep the id in their
    /// `allowed_groups` (ids are never reused): a list that named only this group now lets nobody
    /// through, never everybody.
    package static func delete(_ s: Scope, id: Int64) throws {
        let repo = GroupRepository(s.db)
        try s.db.transaction {
            guard let existing = try repo.find(id: id), try repo.delete(id: id) else { throw ServiceError.notFound }
            try s.audit(.groupDelete, target: target(existing), details: fields(existing))
        }
    }
}
