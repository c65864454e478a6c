import Support

/// A sign-in in progress with the identity provider, as its callback finds it.
public struct OIDCPendingState: Sendable {
    public let browserHash: String
    public let nonce: String
    public let codeVerifier: String
    public let issuer: String
    public let expiresAt: Int64
}

/// Sign-ins in progress (`oidc_states`). A state is taken once: `take` deletes the row and
/// returns what it held in one statement, so two callbacks with one state cannot both have it.
/// Kept in the database, never in Redis (which others may write).
public struct OIDCStateRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// Most sign-ins in progress kept at once. Past it a new start is refused (503) and nothing is
    /// dropped: evicting the oldest would let a flood of `/auth/oidc/login` from many clients
    /// (each limited to 100 per 15 minutes) cancel the sign-ins of people at the provider.
    public static let maxPending: Int64 = 100_000

    /// The statements, public so PostgresTests runs the same text on a real cluster.
    public enum SQL {
        /// now.
        public static let dropExpired = "DELETE FROM oidc_states WHERE expires_at < ?"
        public static let count = "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM oidc_states"
        /// state_hash, browser_hash, nonce, code_verifier, issuer, created_at, expires_at.
        public static let insert =
            "INSERT INTO oidc_states (state_hash, browser_hash, nonce, code_verifier, issuer, created_at, expires_at) "
            + "VALUES (?, ?, ?, ?, ?, ?, ?)"
        /// state_hash.
        public static let take =
            "DELETE FROM oidc_states WHERE state_hash = ? RETURNING browser_hash, nonce, code_verifier, issuer, expires_at"
    }

    public func create(
        stateHash: String, browserHash: String, nonce: String, codeVerifier: String, issuer: String, ttlSeconds: Int64
    ) throws(StorageError) {
        let now = Clock.now()
        try db.run(SQL.dropExpired, [.integer(now)])
        if let count = try db.queryOne(SQL.count)?.int("n"), count >= Self.maxPending {
            throw StorageError(.busy, "\(count) sign-ins are in progress; try again in a few minutes")
        }
        try db.run(
            SQL.insert,
            [
                .text(stateHash), .text(browserHash), .text(nonce), .text(codeVerifier), .text(issuer), .integer(now),
                .integer(now + ttlSeconds)
            ])
    }

    /// Deletes the state and returns it, or nil when it is unknown or already taken. Expiry is
    /// the caller's check (an expired row is taken and refused alike).
    public func take(stateHash: String) throws(StorageError) -> OIDCPendingState? {
        guard
            let row = try db.queryOne(SQL.take, [.text(stateHash)]),
            let browser = row.text("browser_hash"), let nonce = row.text("nonce"), let verifier = row.text("code_verifier"),
            let issuer = row.text("issuer"), let expires = row.int("expires_at")
        else { return nil }
        return OIDCPendingState(browserHash: browser, nonce: nonce, codeVerifier: verifier, issuer: issuer, expiresAt: expires)
    }

    public func count() throws(StorageError) -> Int {
        Int(try db.queryOne(SQL.count)?.int("n") ?? 0)
    }
}

/// Links between users and the identity provider's accounts (`user_identities`), by issuer and
/// subject: the only key an OIDC sign-in is matched on.
public struct IdentityRepository {
    let db: Database
    public init(_ db: Database) { self.db = db }

    /// The statements, public so PostgresTests runs the same text on a real cluster.
    public enum SQL {
        /// issuer, subject.
        public static let userID = "SELECT user_id FROM user_identities WHERE issuer = ? AND subject = ?"
        /// user_id, issuer.
        public static let subject = "SELECT subject FROM user_identities WHERE user_id = ? AND issuer = ?"
        /// user_id.
        public static let isLinked = "SELECT id FROM user_identities WHERE user_id = ? LIMIT 1"
        /// user_id, issuer, subject, created_at, last_login_at.
        public static let link =
            "INSERT INTO user_identities (user_id, issuer, subject, created_at, last_login_at) VALUES (?, ?, ?, ?, ?)"
        /// last_login_at, issuer, subject.
        public static let touch = "UPDATE user_identities SET last_login_at = ? WHERE issuer = ? AND subject = ?"
        /// user_id: the names of the user's oidc groups.
        public static let oidcGroupNames =
            "SELECT g.name AS name FROM groups g JOIN group_members m ON m.group_id = g.id "
            + "WHERE m.user_id = ? AND m.source = 'oidc' ORDER BY g.name"
    }

    public func userID(issuer: String, subject: String) throws(StorageError) -> Int64? {
        try db.queryOne(SQL.userID, [.text(issuer), .text(subject)])?.int("user_id")
    }

    /// The subject this user is linked to at `issuer`, if any.
    public func subject(userID: Int64, issuer: String) throws(StorageError) -> String? {
        try db.queryOne(SQL.subject, [.integer(userID), .text(issuer)])?.text("subject")
    }

    /// Whether the user is linked to any provider account.
    public func isLinked(userID: Int64) throws(StorageError) -> Bool {
        try db.queryOne(SQL.isLinked, [.integer(userID)]) != nil
    }

    public func link(userID: Int64, issuer: String, subject: String) throws(StorageError) {
        let now = Clock.now()
        try db.run(
            SQL.link,
            [.integer(userID), .text(issuer), .text(subject), .integer(now), .integer(now)])
    }

    public func touch(issuer: String, subject: String) throws(StorageError) {
        try db.run(
            SQL.touch,
            [.integer(Clock.now()), .text(issuer), .text(subject)])
    }
}

extension GroupRepository {
    /// The names of the user's `oidc` groups, sorted (the audit trail's before and after).
    public func oidcGroupNames(userID: Int64) throws(StorageError) -> [String] {
        try db.query(IdentityRepository.SQL.oidcGroupNames, [.integer(userID)]).compactMap { $0.text("name") }
    }
}
