import Storage

/// Entry points the command-line tool shares with the HTTP handlers, so both apply the same rules.
public enum AdminHandlersInput {
    /// Validates an email as `POST /admin/users` does; returns it unchanged.
    public static func validateUser(email: String) throws(HTTPError) -> String {
        let fields = try AdminHandlers.createUserInput.validate(["email": .string(email)])
        return fields.string("email") ?? email
    }
}

public enum APITokens {
    /// Creates a token and returns its one-time plaintext.
    public static func issue(db: Database, userID: Int64, name: String) throws -> String {
        try TokenHandlers.issue(db: db, userID: userID, name: name).1
    }
}
