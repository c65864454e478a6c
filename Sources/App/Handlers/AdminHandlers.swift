import Crypto
import Service
import Storage
import Support

enum AdminHandlers {
    static let createUserInput = InputSpec([
        .required("email", .email), .optional("password", .string(min: 12, max: 1024)), .optional("role", .oneOf(["admin", "user"]))
    ])
    static let updateUserInput = InputSpec([
        .optional("role", .oneOf(["admin", "user"])), .optional("disabled", .bool), .optional("password", .string(min: 12, max: 1024))
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
        let healthy = c.db.healthy()
        let schema = (try? Migrations.currentVersion(c.db)) ?? 0
        return .json([
            "version": .string(c.services.shared.version),
            "uptime_seconds": .number(Double(Clock.now() - c.services.shared.startedAt)),
            "encryption": [
                "config_key_set": .bool(config.encryptionKey != nil),
                "key_id": JSON(c.services.shared.vault.keyring.currentKeyID),
                "previous_key_ids": .array(c.services.shared.vault.keyring.previousKeyIDs.map { .string($0) }),
                "transcripts": .string(config.localEncryption ? "encrypted" : "plaintext")
            ],
            "secrets_storage": .string(c.services.shared.vault.storage),
            // The client secret only as set or not: it lives in the environment, never in a response.
            "oidc": config.oidc.map { oidc in
                [
                    "enabled": true, "issuer": .string(oidc.issuer), "client_id": .string(oidc.clientID),
                    "client_secret": ["set": true, "storage": "environment"], "password_login": .bool(config.passwordLogin)
                ]
            } ?? ["enabled": false, "password_login": .bool(config.passwordLogin)],
            "redis": redis,
            "database": [
                "engine": .string(c.db.engine.rawValue), "status": .string(healthy ? "ok" : "error"),
                "schema_version": .number(Double(schema))
            ],
            // Kept for clients of the first API: the same facts, on SQLite only.
            "sqlite": c.db.engine == .sqlite
                ? [
                    "status": .string(healthy ? "ok" : "error"), "journal_mode": .string(c.db.journalMode()),
                    "schema_version": .number(Double(schema))
                ]
                : .null
        ])
    }

    static func listUsers(_ c: Context) throws -> Response {
        .json(["users": .array(try UserRepository(c.db).all().map(UserJSON.of))])
    }

    static func createUser(_ c: Context) throws -> Response {
        let input = try c.input(createUserInput)
        let (user, generated) = try Accounts.create(
            c, email: try input.requiredString("email"), password: input.string("password"),
            role: User.Role(rawValue: input.string("role") ?? "user") ?? .user)
        var body: [String: JSON] = ["user": UserJSON.of(user)]
        if let generated { body["password"] = .string(generated) }
        return .json(.object(body), status: 201, headers: [("Cache-Control", "no-store")])
    }

    static func updateUser(_ c: Context) throws -> Response {
        let input = try c.input(updateUserInput)
        let updated = try Accounts.update(
            c, id: try c.id(), role: input.string("role").flatMap(User.Role.init(rawValue:)),
            disabled: input.bool("disabled"), password: input.string("password"))
        return .json(["user": UserJSON.of(updated)])
    }

    static func deleteUser(_ c: Context) throws -> Response {
        try Accounts.delete(c, id: try c.id())
        return .noContent()
    }
}
