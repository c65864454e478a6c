import Storage
import Support

/// API tokens: random 256-bit values shown once; only their SHA-256 is stored.
public enum APITokens {
    /// Creates a token for `user` and returns it with its one-time plaintext. The trail keeps its
    /// name and the short prefix the token list shows, never the token.
    public static func issue(_ s: Scope, user: User, name: String) throws -> (APIToken, String) {
        let token = Credentials.newToken()
        return (
            try s.db.transaction {
                let record = try TokenRepository(s.db).create(
                    userID: user.id, name: name, tokenHash: Credentials.hash(token),
                    prefix: String(token.prefix(7)))
                try s.audit(
                    .tokenCreate, target: AuditTarget("token", id: record.id, name: record.name),
                    details: ["owner": .string(user.email), "owner_id": JSON(Int(user.id)), "prefix": .string(record.prefix)])
                return record
            }, token
        )
    }

    /// Revokes one of the caller's own tokens; false when it is not theirs or does not exist.
    public static func revoke(_ s: Scope, id: Int64) throws -> Bool {
        let user = try s.user
        let repo = TokenRepository(s.db)
        return try s.db.transaction {
            guard let record = try repo.list(userID: user.id).first(where: { $0.id == id }),
                try repo.delete(id: id, userID: user.id)
            else { return false }
            try s.audit(
                .tokenRevoke, target: AuditTarget("token", id: record.id, name: record.name),
                details: ["owner": .string(user.email), "prefix": .string(record.prefix)])
            return true
        }
    }
}
