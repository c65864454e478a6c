import Crypto
import Service
import Storage
import Support

enum AdminHandlers {
    static let createUserInput = InputSpec([
        .required("email", .email), .optional("password", .string(min: 12, max: 1024)), .optional("role", .oneOf(["admin", "user"])),
    ])
    static let updateUserInput = InputSpec([
        .optional("role", .oneOf(["admin", "user"])), .optional("disabled", .bool), .optional("password", .string(min: 12, max: 1024)),
    ])

    static func status(_ c: Context) throws -> Response {
        let redis: JSON
        let cache = c.services.cache
        if cache.isConfigured {
            let up = cache.ping()
            redis = ["configured": true, "status": .string(up ? "ok" : "down"), "degraded": .bool(!up)]
        } else {
            redis = ["configured": false, "status": "not_configured", "degraded": true]
        }
        let config = c.config
        return .json([
            "version": .string(c.services.shared.version),
            "uptime_seconds": .number(Double(Clock.now() - c.services.shared.startedAt)),
            "encryption": [
                "config_key_set": .bool(config.encryptionKey != nil),
                "key_id": JSON(c.services.shared.vault.keyring.currentKeyID),
                "previous_key_ids": .array(c.services.shared.vault.keyring.previousKeyIDs.map { .string($0) }),
                "transcripts": .string(config.localEncryption ? "encrypted" : "plaintext"),
            ],
            "secrets_storage": .string(c.services.shared.vault.storage),
            "redis": redis,
            "sqlite": ["status": .string(c.db.healthy() ? "ok" : "error"), "journal_mode": .string(c.db.journalMode()),
                       "schema_version": .number(Double((try? Migrations.currentVersion(c.db)) ?? 0))],
        ])
    }

    static func listUsers(_ c: Context) throws -> Response {
        .json(["users": .array(try UserRepository(c.db).all().map(UserJSON.of))])
    }

    static func createUser(_ c: Context) throws -> Response {
        let input = try c.input(createUserInput)
        let email = input.string("email") ?? ""
        let generated = input.string("password") == nil
        let password = input.string("password") ?? Passwords.generate()
        let role = User.Role(rawValue: input.string("role") ?? "user") ?? .user
        let users = UserRepository(c.db)
        guard try users.find(email: email) == nil else { throw ServiceError(.emailTaken, "A user with this email exists.") }
        let user = try users.create(email: email, passwordHash: try PasswordHasher.standard.hash(password), role: role)
        Log.event(.info, "user_created", ["request_id": .string(c.requestID), "user_id": .number(Double(user.id)),
            "by": .number(Double(try c.user.id))])
        var body: [String: JSON] = ["user": UserJSON.of(user)]
        if generated { body["password"] = .string(password) }
        return .json(.object(body), status: 201, headers: [("Cache-Control", "no-store")])
    }

    static func updateUser(_ c: Context) throws -> Response {
        let id = try c.id()
        let input = try c.input(updateUserInput)
        let users = UserRepository(c.db)
        guard let target = try users.find(id: id) else { throw ServiceError.notFound }
        let role = input.string("role").flatMap(User.Role.init(rawValue:))
        let disabled = input.bool("disabled")
        let losesAdmin = target.role == .admin && !target.disabled && (role == .user || disabled == true)
        let hash = try input.string("password").map { try PasswordHasher.standard.hash($0) }
        try c.db.transaction {
            if losesAdmin, try users.adminCount() <= 1 {
                throw ServiceError(.lastAdmin, "This is the last active admin; make another admin first.")
            }
            try users.update(id: id, role: role, disabled: disabled, passwordHash: hash)
            // A reset or a disabled account ends every way in that was made before it.
            if disabled == true || hash != nil {
                try SessionRepository(c.db).deleteAll(userID: id)
                try TokenRepository(c.db).deleteAll(userID: id)
            }
        }
        guard let updated = try users.find(id: id) else { throw ServiceError.notFound }
        return .json(["user": UserJSON.of(updated)])
    }

    /// Deletes the user with every copy of what they had: sessions, tokens, chats, messages,
    /// artifacts and files go by foreign key and the search index by trigger, in one transaction;
    /// then the Redis cache entries and session-log archives of their chats.
    static func deleteUser(_ c: Context) throws -> Response {
        let id = try c.id()
        let users = UserRepository(c.db)
        let chats = ChatRepository(c.db)
        let chatIDs = try c.db.transaction {
            guard let target = try users.find(id: id) else { throw ServiceError.notFound }
            if target.role == .admin, !target.disabled, try users.adminCount() <= 1 {
                throw ServiceError(.lastAdmin, "This is the last active admin; make another admin first.")
            }
            let ids = try chats.ids(userID: id)
            _ = try users.delete(id: id)
            try chats.purgeIndexIfDue()
            return ids
        }
        ChatCopies.remove(c, userID: id, chatIDs: chatIDs, wholeUser: true)
        Log.event(.info, "user_deleted", ["request_id": .string(c.requestID), "user_id": .number(Double(id)), "chats": JSON(chatIDs.count)])
        return .noContent()
    }
}

