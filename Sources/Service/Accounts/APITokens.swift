import Storage

/// API tokens: random 256-bit values shown once; only their SHA-256 is stored.
public enum APITokens {
    /// Creates a token for `userID` and returns it with its one-time plaintext.
    public static func issue(db: Database, userID: Int64, name: String) throws -> (APIToken, String) {
        let token = Credentials.newToken()
        let record = try TokenRepository(db).create(userID: userID, name: name, tokenHash: Credentials.hash(token),
                                                    prefix: String(token.prefix(7)))
        return (record, token)
    }
}
