import Crypto
import Service
import Storage
import Support

enum ConfigHandlers {
    /// `PATCH /admin/config`: the editable settings under their API names, in the kinds of the settings table.
    static let settingsInput = InputSpec(SettingsTable.all.filter(\.isEditable).map { .optional($0.apiName, $0.valueKind) })

    /// An export document; entries are checked by the domain, which reports every problem with its path.
    static let importInput = InputSpec([
        .optional("format", .line(max: 100)), .optional("format_version", .integer(0...1_000_000)),
        .optional("exported_at", .number(0...1e13)),
        .optional("settings", .object), .optional("connections", .array(max: 100_000)), .optional("secrets", .oneOf(["omit", "encrypted"])),
        .optional("omitted_secrets", .array(max: 100_000))
    ])

    static func get(_ c: Context) throws -> Response {
        let config = try c.services.runtimeConfig()
        return .json(["settings": RuntimeSettings.json(config), "version": JSON(Int(try RuntimeSettingsRepository(c.db).version()))])
    }

    static func patch(_ c: Context) throws -> Response {
        let object = try c.input(settingsInput).document
        let version = try RuntimeSettings.update(c, object)
        Log.event(
            .info, "config_changed",
            [
                "request_id": .string(c.requestID), "version": JSON(Int(version)),
                "keys": .array(object.keys.sorted().map { .string($0) })
            ])
        return try get(c)
    }

    static func export(_ c: Context) throws -> Response {
        let document = try ConfigTransfer.export(c, secrets: c.request.queryItem("secrets") ?? "omit")
        return .json(document, headers: [("Content-Disposition", "attachment; filename=\"cryotensor-config.json\"")])
    }

    /// All or nothing: every entry is checked first; any problem gives 422 and writes nothing.
    static func importDocument(_ c: Context) throws -> Response {
        // The declared input's problems join the domain's: one 422 lists them all, and nothing is written.
        let (fields, problems) = importInput.check(try InputSpec.object(c.request.body))
        return .json(
            try ConfigTransfer.importDocument(
                c, fields.document, dryRun: c.request.queryItem("dry_run") == "true",
                problems: problems))
    }
}
