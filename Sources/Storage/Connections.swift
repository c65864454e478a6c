import Support

public struct ConnectionRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var kind: String
    public var baseURL: String
    public var apiVersion: String?
    public var enabled: Bool
    /// The sealed API key when an encryption key is configured; nil otherwise.
    public var apiKeyCiphertext: String?
    /// Group ids whose members may use the connection's models; empty: every user.
    public var allowedGroups: [Int64]

    public init(
        id: Int64 = 0, name: String, kind: String, baseURL: String, apiVersion: String?, enabled: Bool, apiKeyCiphertext: String?,
        allowedGroups: [Int64] = []
    ) {
        self.id = id
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiVersion = apiVersion
        self.enabled = enabled
        self.apiKeyCiphertext = apiKeyCiphertext
        self.allowedGroups = allowedGroups
    }

    /// The stored form of a list of group ids: a JSON list of integers.
    public static func encodeGroups(_ ids: [Int64]) -> String {
        "[" + Set(ids).sorted().map(String.init).joined(separator: ",") + "]"
    }

    /// A stored list read back. A list that does not parse names the impossible group 0, so it
    /// restricts (nobody) instead of opening the connection to everyone.
    public static func decodeGroups(_ text: String?) -> [Int64] {
        guard let text, let list = (try? JSON.parse(text))?.arrayValue else { return [0] }
        let ids = list.compactMap { $0.intValue.map(Int64.init) }
        return ids.count == list.count ? ids : [0]
    }

    init?(_ row: Row) {
        guard let id = row.int("id"), let name = row.text("name"), let kind = row.text("kind"),
            let base = row.text("base_url")
        else { return nil }
        self.init(
            id: id, name: name, kind: kind, baseURL: base, apiVersion: row.text("api_version"), enabled: row.bool("enabled"),
            apiKeyCiphertext: row.text("api_key_ciphertext"), allowedGroups: Self.decodeGroups(row.text("allowed_groups")))
    }
}

public struct ConnectionRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    static let columns = "id, name, kind, base_url, api_version, enabled, api_key_ciphertext, allowed_groups"

    public func all() throws(StorageError) -> [ConnectionRecord] {
        try db.query("SELECT \(Self.columns) FROM connections ORDER BY id").compactMap(ConnectionRecord.init)
    }

    public func find(id: Int64) throws(StorageError) -> ConnectionRecord? {
        try db.queryOne("SELECT \(Self.columns) FROM connections WHERE id = ?", [.integer(id)]).flatMap(ConnectionRecord.init)
    }

    public func find(name: String) throws(StorageError) -> ConnectionRecord? {
        try db.queryOne("SELECT \(Self.columns) FROM connections WHERE name = ?", [.text(name)]).flatMap(ConnectionRecord.init)
    }

    /// Inserts and returns the new id. The ciphertext, bound to the id, is written by `setCiphertext`.
    public func insert(_ c: ConnectionRecord) throws(StorageError) -> Int64 {
        let now = Clock.now()
        return try db.insert(
            "INSERT INTO connections (name, kind, base_url, api_version, enabled, allowed_groups, created_at, updated_at) "
                + "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                .text(c.name), .text(c.kind), .text(c.baseURL), SQLValue(c.apiVersion), SQLValue(c.enabled),
                .text(ConnectionRecord.encodeGroups(c.allowedGroups)), .integer(now), .integer(now)
            ])
    }

    public func update(_ c: ConnectionRecord) throws(StorageError) {
        try db.run(
            "UPDATE connections SET name = ?, kind = ?, base_url = ?, api_version = ?, enabled = ?, allowed_groups = ?, updated_at = ? "
                + "WHERE id = ?",
            [
                .text(c.name), .text(c.kind), .text(c.baseURL), SQLValue(c.apiVersion), SQLValue(c.enabled),
                .text(ConnectionRecord.encodeGroups(c.allowedGroups)), .integer(Clock.now()), .integer(c.id)
            ])
    }

    public func setCiphertext(id: Int64, _ ciphertext: String?) throws(StorageError) {
        try db.run("UPDATE connections SET api_key_ciphertext = ? WHERE id = ?", [SQLValue(ciphertext), .integer(id)])
    }

    /// Replaces the stored ciphertext only if it is still `expected`, so a concurrent change is never overwritten.
    public func replaceCiphertext(id: Int64, expected: String, with fresh: String) throws(StorageError) {
        try db.run(
            "UPDATE connections SET api_key_ciphertext = ? WHERE id = ? AND api_key_ciphertext = ?",
            [.text(fresh), .integer(id), .text(expected)])
    }

    public func delete(id: Int64) throws(StorageError) -> Bool {
        try db.run("DELETE FROM connections WHERE id = ?", [.integer(id)]) > 0
    }
}

/// Admin-editable, non-sensitive settings (overrides of the environment), with a version that
/// increases on every change so caches can tell they are stale.
public struct RuntimeSettingsRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public func all() throws(StorageError) -> [String: String] {
        var out: [String: String] = [:]
        for row in try db.query("SELECT name, value FROM runtime_settings") {
            if let n = row.text("name"), let v = row.text("value") { out[n] = v }
        }
        return out
    }

    public func version() throws(StorageError) -> Int64 {
        try db.queryOne("SELECT value FROM meta WHERE key = 'config_version'")?.int("value") ?? 0
    }

    /// Writes the given overrides and bumps the version; call inside a transaction.
    public func set(_ values: [String: String]) throws(StorageError) -> Int64 {
        for (name, value) in values {
            try db.run(
                "INSERT INTO runtime_settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                [.text(name), .text(value)])
        }
        try db.run("UPDATE meta SET value = value + 1 WHERE key = 'config_version'")
        return try version()
    }
}

/// Keys the service makes for itself and keeps in the database (never shown, never exported).
public struct ServiceKeyRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// The key called `name`, made from `make()` on first use; concurrent first uses agree on one.
    public func key(_ name: String, make: () -> [UInt8]) throws(StorageError) -> [UInt8] {
        try db.run("INSERT INTO service_keys (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", [.text(name), .blob(make())])
        guard
            let value = try db.queryOne(
                "SELECT value FROM service_keys WHERE name = ?",
                [.text(name)])?.blob("value"), value.count >= 32
        else {
            throw StorageError(.corrupt, "service key \(name) is missing or short")
        }
        return value
    }
}
