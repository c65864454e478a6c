import Crypto
import Storage
import Support

/// Users and sign-in: creation, changes that end old sessions, deletion with every copy, and
/// the password check with its rate limits.
public enum Accounts {
    /// A new user; the generated password (when none was given) is returned once, never stored.
    public static func create(
        _ s: Scope, email: String, password given: String?, role: User.Role,
        generated: Bool = false
    ) throws -> (User, String?) {
        let password = given ?? Passwords.generate()
        let users = UserRepository(s.db)
        guard try users.find(email: email) == nil else { throw ServiceError(.emailTaken, "A user with this email exists.") }
        let hash = try PasswordHasher.standard.hash(password)
        let user = try s.db.transaction {
            let user = try users.create(email: email, passwordHash: hash, role: role)
            try s.audit(
                .userCreate, target: Self.target(user),
                details: [
                    "email": .string(user.email), "role": .string(user.role.rawValue), "disabled": .bool(user.disabled),
                    "password": ["change": "set", "generated": .bool(generated || given == nil)]
                ])
            return user
        }
        Log.event(
            .info, "user_created",
            [
                "request_id": .string(s.requestID), "user_id": .number(Double(user.id)),
                "by": s.auth.map { .number(Double($0.user.id)) } ?? .null
            ])
        return (user, given == nil ? password : nil)
    }

    /// Changes role, disabled flag or password; never leaves the service without an active admin.
    package static func update(_ s: Scope, id: Int64, role: User.Role?, disabled: Bool?, password: String?) throws -> User {
        let users = UserRepository(s.db)
        guard let target = try users.find(id: id) else { throw ServiceError.notFound }
        let losesAdmin = target.role == .admin && !target.disabled && (role == .user || disabled == true)
        let hash = try password.map { try PasswordHasher.standard.hash($0) }
        try s.db.transaction {
            if losesAdmin, try users.adminCount() <= 1 {
                throw ServiceError(.lastAdmin, "This is the last active admin; make another admin first.")
            }
            try users.update(id: id, role: role, disabled: disabled, passwordHash: hash)
            // A reset or a disabled account ends every way in that was made before it.
            let endsAccess = disabled == true || hash != nil
            if endsAccess {
                try SessionRepository(s.db).deleteAll(userID: id)
                try TokenRepository(s.db).deleteAll(userID: id)
            }
            let after: [String: JSON] = ["role": .string((role ?? target.role).rawValue), "disabled": .bool(disabled ?? target.disabled)]
            var details = AuditDetails.changes(["role": .string(target.role.rawValue), "disabled": .bool(target.disabled)], after)
            // A password is never fingerprinted: only that it was replaced.
            if hash != nil { details["password"] = ["change": "replaced"] }
            if endsAccess { details["sessions_and_tokens_ended"] = true }
            try s.audit(.userUpdate, target: Self.target(target), details: details)
        }
        guard let updated = try users.find(id: id) else { throw ServiceError.notFound }
        return updated
    }

    /// Deletes the user with every copy of what they had: sessions, tokens, chats, messages,
    /// artifacts and files go by foreign key and the search index by trigger, in one transaction;
    /// then the Redis cache entries and session-log archives of their chats.
    package static func delete(_ s: Scope, id: Int64) throws {
        let users = UserRepository(s.db)
        let chats = ChatRepository(s.db)
        let chatIDs = try s.db.transaction {
            guard let target = try users.find(id: id) else { throw ServiceError.notFound }
            if target.role == .admin, !target.disabled, try users.adminCount() <= 1 {
                throw ServiceError(.lastAdmin, "This is the last active admin; make another admin first.")
            }
            let ids = try chats.ids(userID: id)
            _ = try users.delete(id: id)
            try chats.purgeIndexIfDue()
            try s.audit(
                .userDelete, target: Self.target(target),
                details: [
                    "email": .string(target.email), "role": .string(target.role.rawValue), "chats_deleted": JSON(ids.count)
                ])
            return ids
        }
        ChatCopies.remove(s, userID: id, chatIDs: chatIDs, wholeUser: true)
        Log.event(.info, "user_deleted", ["request_id": .string(s.requestID), "user_id": .number(Double(id)), "chats": JSON(chatIDs.count)])
    }

    /// A session made by a correct password, within the rate limits: the user, the session
    /// token for the cookie, and its lifetime.
    package struct SignIn {
        package let user: User
        package let sessionToken: String
        package let csrfToken: String
        package let ttlSeconds: Int64
    }

    package static func signIn(_ s: Scope, email: String, password: String) throws -> SignIn {
        // People sign in through the identity provider only; operator commands never come here.
        guard s.config.passwordLogin else {
            throw ServiceError(.passwordLoginDisabled, "Password sign-in is turned off; sign in with the identity provider.")
        }
        let limiter = LoginLimiter(context: s)
        let users = UserRepository(s.db)
        if let refusal = try limiter.admit(email: email) {
            Log.event(.warn, "login_rate_limited", ["request_id": .string(s.requestID), "remote_addr": .string(s.clientAddress)])
            // One event per window and limit: a flood from one client cannot fill the disk.
            if refusal.first {
                s.auditFailure(
                    .loginFailed, target: try loginTarget(users, email), outcome: .denied,
                    details: ["reason": "rate_limited", "limit": .string(refusal.limit), "retry_after": JSON(refusal.wait)])
            }
            throw ServiceError.rateLimited(retryAfter: refusal.wait)
        }
        let user = try users.find(email: email)
        // Verify against a decoy when the account is missing, so timing does not tell.
        // An account made by the identity provider has no password: it is checked against the
        // decoy too, so timing does not tell such accounts apart, and it never verifies.
        let hash = try user.flatMap { try users.passwordHash(userID: $0.id) }
        let stored = hash.flatMap { $0.hasPrefix("scrypt$") ? $0 : nil } ?? PasswordHasher.decoy
        let valid = PasswordHasher.verify(password, against: stored) && stored != PasswordHasher.decoy
        guard let user, valid, !user.disabled else {
            Log.event(.info, "login_failed", ["request_id": .string(s.requestID), "remote_addr": .string(s.clientAddress)])
            let reason = user == nil ? "unknown_account" : (valid ? "disabled" : "wrong_password")
            s.auditFailure(.loginFailed, target: try loginTarget(users, email), outcome: .failed, details: ["reason": .string(reason)])
            throw ServiceError(.invalidCredentials, "Wrong email or password.")
        }
        limiter.recordSuccess(email: email)
        let token = Credentials.newSessionToken()
        let csrf = Credentials.csrfToken(forSession: token)
        let ttl = Int64(s.config.sessionHours) * 3600
        try s.db.transaction {
            try SessionRepository(s.db).create(
                tokenHash: Credentials.hash(token), csrfHash: Credentials.hash(csrf), userID: user.id,
                ttlSeconds: ttl)
            try s.audit(
                .login, target: target(user), details: ["method": "password", "session_hours": JSON(s.config.sessionHours)],
                actor: AuditActor(kind: .user, userID: user.id, email: user.email))
        }
        Log.event(.info, "login", ["request_id": .string(s.requestID), "user_id": .number(Double(user.id))])
        return SignIn(user: user, sessionToken: token, csrfToken: csrf, ttlSeconds: ttl)
    }

    /// Ends the caller's session (a token caller has none to end; nothing is recorded then).
    package static func signOut(_ s: Scope) throws {
        guard let auth = s.auth, let token = auth.sessionToken else { return }
        try s.db.transaction {
            try SessionRepository(s.db).delete(tokenHash: Credentials.hash(token))
            try s.audit(.logout, target: target(auth.user))
        }
    }

    package static func target(_ user: User) -> AuditTarget { AuditTarget("user", id: user.id, name: user.email) }

    /// The account a failed login aimed at. What was typed is recorded only when it names an
    /// existing account: an unknown "email" is often a password typed into the wrong field.
    static func loginTarget(_ users: UserRepository, _ email: String) throws -> AuditTarget {
        guard let user = try users.find(email: email) else { return AuditTarget("user") }
        return target(user)
    }
}
