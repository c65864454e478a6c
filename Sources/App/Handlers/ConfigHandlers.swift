import Crypto
import Service
import Storage
import Support

enum ConfigHandlers {
    static func get(_ c: Context) throws -> Response {
        let config = try c.services.runtimeConfig()
        return .json(["settings": RuntimeSettings.json(config), "version": JSON(Int(try RuntimeSettingsRepository(c.db).version()))])
    }

    static func patch(_ c: Context) throws -> Response {
        let object = try ConnectionHandlers.body(c)
        let repo = RuntimeSettingsRepository(c.db)
        let (merged, problems) = RuntimeSettings.validate(object, base: c.services.shared.settingsEnvironment,
                                                          overrides: try repo.all(), at: "")
        guard problems.isEmpty else { throw ServiceError(problems: problems) }
        let version = try c.db.transaction { try repo.set(merged) }
        Log.event(.info, "config_changed", ["request_id": .string(c.requestID), "version": JSON(Int(version)),
                                            "keys": .array(object.keys.sorted().map { .string($0) })])
        return try get(c)
    }

    static func export(_ c: Context) throws -> Response {
        let document = try ConfigTransfer.export(c, secrets: c.request.queryItem("secrets") ?? "omit")
        return .json(document, headers: [("Content-Disposition", "attachment; filename=\"cryotensor-config.json\"")])
    }

    /// All or nothing: every entry is checked first; any problem gives 422 and writes nothing.
    static func importDocument(_ c: Context) throws -> Response {
        .json(try ConfigTransfer.importDocument(c, try ConnectionHandlers.body(c), dryRun: c.request.queryItem("dry_run") == "true"))
    }
}
