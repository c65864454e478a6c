import Support

public struct User: Sendable, Equatable {
    public enum Role: String, Sendable { case admin, user }
    public let id: Int64
    public let email: String
    public let role: Role
    public let disabled: Bool
    public let createdAt: Int64

    init?(_ row: Row) {
        guard let id = row.int("id"), let email = row.text("email"),
            let role = row.text("role").flatMap(Role.init(rawValue:))
        else { return nil }
        self.id = id
        self.email = email
        self.role = role
        self.disabled = row.bool("disabled")
        self.createdAt = row.int("created_at") ?? 0
    }
}

/// Users table. Password hashes are read only by `passwordHash(email:)`.
public struct UserRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    static let columns = "id, email, role, disabled, created_at"

    public func create(email: String, passwordHash: String, role: User.Role) throws(StorageError) -> User {
        let id = try db.insert(
            "INSERT INTO users (email, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            [.text(email), .text(passwordHash), .text(role.rawValue), .integer(Clock.now())])
        guard let user = try find(id: id) else { throw StorageError(.step, "user vanished") }
        return user
    }

    public func find(id: Int64) throws(StorageError) -> User? {
        try db.queryOne("SELECT \(Self.columns) FROM users WHERE id = ?", [.integer(id)]).flatMap(User.init)
    }

    public func find(email: String) throws(StorageError) -> User? {
        // SQLite's column is COLLATE NOCASE; PostgreSQL has a unique index on lower(email).
        let match = db.engine == .postgresql ? "lower(email) = lower(?)" : "email = ?"
        return try db.queryOne("SELECT \(Self.columns) FROM users WHERE \(match)", [.text(email)]).flatMap(User.init)
    }

    public func passwordHash(userID: Int64) throws(StorageError) -> String? {
        try db.queryOne("SELECT password_hash FROM users WHERE id = ?", [.integer(userID)])?.text("password_hash")
    }

    public func all() throws(StorageError) -> [User] {
        try db.query("SELECT \(Self.columns) FROM users ORDER BY id").compactMap(User.init)
    }

    public func count() throws(StorageError) -> Int {
        Int(try db.queryOne("SELECT COUNT(*) AS n FROM users")?.int("n") ?? 0)
    }

    public func adminCount() throws(StorageError) -> Int {
        Int(try db.queryOne("SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")?.int("n") ?? 0)
    }

    public func update(id: Int64, role: User.Role?, disabled: Bool?, passwordHash: String?) throws(StorageError) {
        if let role { try db.run("UPDATE users SET role = ? WHERE id = ?", [.text(role.rawValue), .integer(id)]) }
        if let disabled { try db.run("UPDATE users SET disabled = ? WHERE id = ?", [SQLValue(disabled), .integer(id)]) }
        if let passwordHash { try db.run("UPDATE users SET password_hash = ? WHERE id = ?", [.text(passwordHash), .integer(id)]) }
    }

    public func delete(id: Int64) throws(StorageError) -> Bool {
        try db.run("DELETE FROM users WHERE id = ?", [.integer(id)]) > 0
    }
}

/// Browser sessions. Only SHA-256 hashes of the cookie and CSRF token are stored,
/// so a copy of the database does not let anyone log in.
public struct SessionRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public struct Session: Sendable {
        public let id: Int64
        public let userID: Int64
        public let csrfHash: String
        public let expiresAt: Int64
    }

    public func create(tokenHash: String, csrfHash: String, userID: Int64, ttlSeconds: Int64) throws(StorageError) {
        let now = Clock.now()
        try db.run("DELETE FROM sessions WHERE expires_at < ?", [.integer(now)])
        try db.run(
            "INSERT INTO sessions (token_hash, csrf_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            [.text(tokenHash), .text(csrfHash), .integer(userID), .integer(now), .integer(now + ttlSeconds)])
    }

    public func find(tokenHash: String) throws(StorageError) -> Session? {
        guard
            let row = try db.queryOne(
                "SELECT id, user_id, csrf_hash, expires_at FROM sessions WHERE token_hash = ? AND expires_at >= ?",
                [.text(tokenHash), .integer(Clock.now())]),
            let id = row.int("id"), let userID = row.int("user_id"), let csrf = row.text("csrf_hash"),
            let expires = row.int("expires_at")
        else { return nil }
        return Session(id: id, userID: userID, csrfHash: csrf, expiresAt: expires)
    }

    public func delete(tokenHash: String) throws(StorageError) {
        try db.run("DELETE FROM sessions WHERE token_hash = ?", [.text(tokenHash)])
    }

    public func deleteAll(userID: Int64) throws(StorageError) {
        try db.run("DELETE FROM sessions WHERE user_id = ?", [.integer(userID)])
    }
}

public struct APIToken: Sendable {
    public let id: Int64
    public let userID: Int64
    public let name: String
    public let prefix: String
    public let createdAt: Int64
    public let lastUsedAt: Int64?

    init?(_ row: Row) {
        guard let id = row.int("id"), let userID = row.int("user_id"), let name = row.text("name"),
            let prefix = row.text("prefix")
        else { return nil }
        self.id = id
        self.userID = userID
        self.name = name
        self.prefix = prefix
        self.createdAt = row.int("created_at") ?? 0
        self.lastUsedAt = row.int("last_used_at")
    }
}

/// API tokens, stored as SHA-256 of the token (tokens are 256-bit random, so a fast hash suffices).
public struct TokenRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    static let columns = "id, user_id, name, prefix, created_at, last_used_at"

    public func create(userID: Int64, name: String, tokenHash: String, prefix: String) throws(StorageError) -> APIToken {
        let id = try db.insert(
            "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?)",
            [.integer(userID), .text(name), .text(tokenHash), .text(prefix), .integer(Clock.now())])
        guard
            let token = try db.queryOne(
                "SELECT \(Self.columns) FROM api_tokens WHERE id = ?",
                [.integer(id)]
            ).flatMap(APIToken.init)
        else {
            throw StorageError(.step, "token vanished")
        }
        return token
    }

    public func find(tokenHash: String) throws(StorageError) -> APIToken? {
        try db.queryOne("SELECT \(Self.columns) FROM api_tokens WHERE token_hash = ?", [.text(tokenHash)]).flatMap(APIToken.init)
    }

    public func list(userID: Int64) throws(StorageError) -> [APIToken] {
        try db.query("SELECT \(Self.columns) FROM api_tokens WHERE user_id = ? ORDER BY id", [.integer(userID)]).compactMap(APIToken.init)
    }

    /// Deletes only a token of `userID`: another user's id behaves as if it did not exist.
    public func delete(id: Int64, userID: Int64) throws(StorageError) -> Bool {
        try db.run("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", [.integer(id), .integer(userID)]) > 0
    }

    /// Revokes every token of a user (password reset, disabling).
    public func deleteAll(userID: Int64) throws(StorageError) {
        try db.run("DELETE FROM api_tokens WHERE user_id = ?", [.integer(userID)])
    }

    public func touch(id: Int64) throws(StorageError) {
        try db.run("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", [.integer(Clock.now()), .integer(id)])
    }
}

/// Fixed-window counters of login attempts, kept in SQLite only.
public struct RateLimitRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    public func count(key: String, windowSeconds: Int64) throws(StorageError) -> Int {
        let windowStart = Clock.now() / windowSeconds * windowSeconds
        let row = try db.queryOne("SELECT count FROM rate_limits WHERE key = ? AND window_start = ?", [.text(key), .integer(windowStart)])
        return Int(row?.int("count") ?? 0)
    }

    /// Counts one attempt and returns the window's count including it, in one statement: two
    /// concurrent attempts can never both read the same count.
    @discardableResult
    public func increment(key: String, windowSeconds: Int64) throws(StorageError) -> Int {
        let windowStart = Clock.now() / windowSeconds * windowSeconds
        let row = try db.queryOne(
            """
            INSERT INTO rate_limits (key, window_start, count) VALUES (?, ?, 1)
            ON CONFLICT(key) DO UPDATE
                SET count = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.count + 1 ELSE 1 END,
                    window_start = excluded.window_start
            RETURNING count
            """, [.text(key), .integer(windowStart)])
        return Int(row?.int("count") ?? 1)
    }

    public func forgetOldWindows(windowSeconds: Int64) throws(StorageError) {
        try db.run("DELETE FROM rate_limits WHERE window_start < ?", [.integer(Clock.now() / windowSeconds * windowSeconds)])
    }

    public func decrement(key: String) throws(StorageError) {
        try db.run("UPDATE rate_limits SET count = CASE WHEN count > 0 THEN count - 1 ELSE 0 END WHERE key = ?", [.text(key)])
    }

    public func reset(key: String) throws(StorageError) {
        try db.run("DELETE FROM rate_limits WHERE key = ?", [.text(key)])
    }
}
