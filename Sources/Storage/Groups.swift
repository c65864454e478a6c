import Support

/// A group of users: `local` ones are made and filled by admins; `oidc` ones are made from the
/// identity provider's groups claim and filled only by sign-in (`replaceOIDCMemberships`).
public struct GroupRecord: Sendable, Equatable {
    public enum Source: String, Sendable { case local, oidc }
    public let id: Int64
    public let name: String
    public let source: Source
    /// Tokens (prompt + completion) each member may use per UTC day; nil: no limit from this group.
    public let dailyTokenQuota: Int64?
    public let createdAt: Int64
    /// Member user ids, ascending.
    public let members: [Int64]

    init?(_ row: Row, members: [Int64]) {
        guard let id = row.int("id"), let name = row.text("name"),
            let source = row.text("source").flatMap(Source.init(rawValue:))
        else { return nil }
        self.id = id
        self.name = name
        self.source = source
        self.dailyTokenQuota = row.int("daily_token_quota")
        self.createdAt = row.int("created_at") ?? 0
        self.members = members
    }
}

/// What a sign-in's groups claim did to a user's `oidc` memberships.
public struct OIDCMemberships: Sendable, Equatable {
    /// The `oidc` groups the user is in now, ascending.
    public let groupIDs: [Int64]
    /// Claimed names that gave no membership: a local group's name (a claim never joins a local
    /// group), an empty or over-long name, a control character, or names past `maxOIDCGroups`.
    public let ignored: [String]
}

/// Groups and memberships. Every statement is plain SQL that SQLite and PostgreSQL both accept.
public struct GroupRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// Longest group name, in UTF-8 bytes (claims and the admin API alike).
    public static let maxNameBytes = 128
    /// At most this many distinct names of one groups claim are honoured; the rest are ignored.
    public static let maxOIDCGroups = 256

    static let columns = "id, name, source, daily_token_quota, created_at"

    /// Statements of sign-in's replacement, public so PostgresTests runs the same text on a real cluster.
    public enum SQL {
        /// name, created_at.
        public static let insertOIDCGroup =
            "INSERT INTO groups (name, source, created_at) VALUES (?, 'oidc', ?) ON CONFLICT (name) DO NOTHING"
        /// name.
        public static let groupByName = "SELECT id, source FROM groups WHERE name = ?"
        /// user_id.
        public static let dropOIDCMemberships = "DELETE FROM group_members WHERE user_id = ? AND source = 'oidc'"
        /// group_id, user_id, source, created_at.
        public static let addMember =
            "INSERT INTO group_members (group_id, user_id, source, created_at) VALUES (?, ?, ?, ?) "
            + "ON CONFLICT (group_id, user_id) DO NOTHING"
    }

    /// A name the repository accepts: not empty, at most `maxNameBytes`, no control characters.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maxNameBytes
            && !name.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F || (0x80..<0xA0).contains($0.value) }
    }

    /// Creates a group; a taken name is a `.constraint` error.
    public func create(name: String, source: GroupRecord.Source = .local, dailyTokenQuota: Int64? = nil)
        throws(StorageError) -> GroupRecord
    {
        guard
            let id = try db.queryOne(
                "INSERT INTO groups (name, source, daily_token_quota, created_at) VALUES (?, ?, ?, ?) RETURNING id",
                [.text(name), .text(source.rawValue), dailyTokenQuota.map(SQLValue.integer) ?? .null, .integer(Clock.now())]
            )?.int("id"),
            let group = try find(id: id)
        else { throw StorageError(.step, "group vanished") }
        return group
    }

    /// Every group with its members, by id.
    public func all() throws(StorageError) -> [GroupRecord] {
        var members: [Int64: [Int64]] = [:]
        for row in try db.query("SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id") {
            if let g = row.int("group_id"), let u = row.int("user_id") { members[g, default: []].append(u) }
        }
        return try db.query("SELECT \(Self.columns) FROM groups ORDER BY id").compactMap {
            GroupRecord($0, members: $0.int("id").flatMap { members[$0] } ?? [])
        }
    }

    public func find(id: Int64) throws(StorageError) -> GroupRecord? {
        guard let row = try db.queryOne("SELECT \(Self.columns) FROM groups WHERE id = ?", [.integer(id)]) else { return nil }
        return GroupRecord(row, members: try members(groupID: id))
    }

    public func find(name: String) throws(StorageError) -> GroupRecord? {
        guard let row = try db.queryOne("SELECT \(Self.columns) FROM groups WHERE name = ?", [.text(name)]),
            let id = row.int("id")
        else { return nil }
        return GroupRecord(row, members: try members(groupID: id))
    }

    public func members(groupID: Int64) throws(StorageError) -> [Int64] {
        try db.query("SELECT user_id FROM group_members WHERE group_id = ? ORDER BY user_id", [.integer(groupID)])
            .compactMap { $0.int("user_id") }
    }

    /// Renames a group; false when it does not exist. A taken name is a `.constraint` error.
    @discardableResult
    public func rename(id: Int64, to name: String) throws(StorageError) -> Bool {
        try db.run("UPDATE groups SET name = ? WHERE id = ?", [.text(name), .integer(id)]) > 0
    }

    /// Sets or clears (nil) the daily token quota; false when the group does not exist.
    @discardableResult
    public func setDailyTokenQuota(id: Int64, _ quota: Int64?) throws(StorageError) -> Bool {
        try db.run("UPDATE groups SET daily_token_quota = ? WHERE id = ?", [quota.map(SQLValue.integer) ?? .null, .integer(id)]) > 0
    }

    /// Deletes a group and (by cascade) its memberships.
    @discardableResult
    public func delete(id: Int64) throws(StorageError) -> Bool {
        try db.run("DELETE FROM groups WHERE id = ?", [.integer(id)]) > 0
    }

    /// Adds a member; false when already one. An unknown group or user is a `.constraint` error.
    @discardableResult
    public func addMember(groupID: Int64, userID: Int64, source: GroupRecord.Source = .local) throws(StorageError) -> Bool {
        try db.run(
            SQL.addMember,
            [.integer(groupID), .integer(userID), .text(source.rawValue), .integer(Clock.now())]) > 0
    }

    @discardableResult
    public func removeMember(groupID: Int64, userID: Int64) throws(StorageError) -> Bool {
        try db.run("DELETE FROM group_members WHERE group_id = ? AND user_id = ?", [.integer(groupID), .integer(userID)]) > 0
    }

    /// Makes `userIDs` the group's members (one transaction; unknown users are a `.constraint` error).
    public func setMembers(groupID: Int64, userIDs: [Int64], source: GroupRecord.Source = .local) throws(StorageError) {
        try atomically { () throws(StorageError) in
            try db.run("DELETE FROM group_members WHERE group_id = ?", [.integer(groupID)])
            for user in Set(userIDs).sorted() { try addMember(groupID: groupID, userID: user, source: source) }
        }
    }

    /// The groups a user is in (local and oidc), ascending.
    public func groupIDs(userID: Int64) throws(StorageError) -> [Int64] {
        try db.query("SELECT group_id FROM group_members WHERE user_id = ? ORDER BY group_id", [.integer(userID)])
            .compactMap { $0.int("group_id") }
    }

    /// The ids among `ids` that name an existing group.
    public func existing(_ ids: [Int64]) throws(StorageError) -> Set<Int64> {
        var found: Set<Int64> = []
        for id in Set(ids) where try db.queryOne("SELECT id FROM groups WHERE id = ?", [.integer(id)]) != nil {
            found.insert(id)
        }
        return found
    }

    /// Makes the user's `oidc` memberships exactly the groups named in a sign-in's claim, in one
    /// transaction: missing names become `oidc` groups, memberships of oidc groups no longer named
    /// go. Local memberships are untouched, and a claim naming a local group gives no membership
    /// in it (only an admin puts people into local groups; the name is reported in `ignored`).
    public func replaceOIDCMemberships(userID: Int64, groupNames: [String]) throws(StorageError) -> OIDCMemberships {
        var ignored: [String] = []
        var names: [String] = []
        var seen: Set<String> = []
        for name in groupNames where seen.insert(name).inserted {
            if Self.isValidName(name), names.count < Self.maxOIDCGroups { names.append(name) } else { ignored.append(name) }
        }
        return try atomically { () throws(StorageError) -> OIDCMemberships in
            var ids: Set<Int64> = []
            let now = Clock.now()
            for name in names {
                try db.run(SQL.insertOIDCGroup, [.text(name), .integer(now)])
                guard let row = try db.queryOne(SQL.groupByName, [.text(name)]),
                    let id = row.int("id")
                else { throw StorageError(.step, "group vanished") }
                if row.text("source") == GroupRecord.Source.oidc.rawValue { ids.insert(id) } else { ignored.append(name) }
            }
            try db.run(SQL.dropOIDCMemberships, [.integer(userID)])
            for id in ids.sorted() { try addMember(groupID: id, userID: userID, source: .oidc) }
            return OIDCMemberships(groupIDs: ids.sorted(), ignored: ignored)
        }
    }

    /// Runs `body` in a transaction, or in the caller's when one is open.
    func atomically<T>(_ body: () throws(StorageError) -> T) throws(StorageError) -> T {
        if db.inTransaction { return try body() }
        do {
            return try db.transaction { try body() }
        } catch let error as StorageError {
            throw error
        } catch {
            throw StorageError(.step, "transaction failed")
        }
    }
}
