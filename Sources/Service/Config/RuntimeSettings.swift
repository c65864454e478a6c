import Cache
import Storage
import Support

/// The non-sensitive settings admins may change at run time (`/admin/config`, import). The
/// environment gives initial values; overrides and their version live in SQLite, so every thread
/// of every process sees a change on its next request. No secret is ever among them.
package enum RuntimeSettings {
    /// The editable variables, in the table's order.
    package static var editable: [String] { SettingsTable.all.filter(\.isEditable).map(\.name) }

    package static func apiName(_ variable: String) -> String { SettingsTable.spec(variable)?.apiName ?? variable.lowercased() }
    package static func variable(_ apiName: String) -> String? { SettingsTable.all.first { $0.isEditable && $0.apiName == apiName }?.name }

    /// Turns a JSON patch into environment-style strings and checks them all with the same parser
    /// as start-up. Returns the new overrides, or the problems.
    package static func validate(
        _ patch: [String: JSON], base: [String: String], overrides: [String: String],
        at path: String
    ) -> ([String: String], [Problem]) {
        var changes: [String: String] = [:]
        var problems: [Problem] = []
        for (key, value) in patch.sorted(by: { $0.key < $1.key }) {
            let location = path.isEmpty ? key : "\(path).\(key)"
            guard let name = variable(key), let spec = SettingsTable.spec(name) else {
                problems.append(Problem(path: location, code: .invalidField, message: "'\(key)' is not an editable setting."))
                continue
            }
            switch spec.valueKind.check(value, name: key) {
            case .failure(let refusal):
                problems.append(Problem(path: location, code: .invalidField, message: refusal.message))
            case .success(.bool(let b)): changes[name] = b ? "true" : "false"
            case .success(.number(let d)): changes[name] = Int(exactly: d).map(String.init) ?? String(d)
            case .success(.array(let items)): changes[name] = items.compactMap(\.stringValue).joined(separator: ",")
            case .success(let other): changes[name] = other.stringValue ?? ""
            }
        }
        let merged = overrides.merging(changes) { _, new in new }
        if problems.isEmpty {
            do {
                _ = try Config.load(environment: base.merging(merged) { _, new in new })
            } catch {
                problems.append(
                    Problem(
                        path: path.isEmpty ? apiName(error.variable) : "\(path).\(apiName(error.variable))",
                        code: .invalidField, message: error.reason))
            }
        }
        return (merged, problems)
    }

    package static func json(_ config: Config) -> JSON {
        var out: [String: JSON] = [:]
        for spec in SettingsTable.all { if let shown = spec.shown { out[spec.apiName] = shown(config) } }
        return .object(out)
    }

    /// The overrides an export carries, typed as the API shows them.
    package static func overridesJSON(_ overrides: [String: String], effective: Config) -> JSON {
        guard case .object(let all) = json(effective) else { return [:] }
        var out: [String: JSON] = [:]
        for name in overrides.keys { if let v = all[apiName(name)] { out[apiName(name)] = v } }
        return .object(out)
    }
}

extension Services {
    /// The effective settings: environment plus admin overrides. SQLite is the only source: the
    /// version row is read on every call (one indexed lookup) and the overrides only when it
    /// moved. Redis is never asked, so whoever can write to Redis cannot turn the guard down.
    package func runtimeConfig() throws -> Config {
        let repo = RuntimeSettingsRepository(db)
        let version = try repo.version()
        if let cached = runtimeCache, cached.version == version { return cached.config }
        return try remember(version: version, overrides: try repo.all())
    }

    package func remember(version: Int64, overrides: [String: String]) throws -> Config {
        let config = try Config.load(environment: shared.settingsEnvironment.merging(overrides) { _, new in new })
        runtimeCache = (version, overrides, config)
        return config
    }
}

extension RuntimeSettings {
    /// `PATCH /admin/config`: checks the patch, stores the new overrides and records the before
    /// and after of each setting that changed, in one transaction. Returns the new version.
    package static func update(_ s: Scope, _ patch: [String: JSON]) throws -> Int64 {
        let repo = RuntimeSettingsRepository(s.db)
        let before = json(try s.services.runtimeConfig()).objectValue ?? [:]
        let (merged, problems) = validate(patch, base: s.services.shared.settingsEnvironment, overrides: try repo.all(), at: "")
        guard problems.isEmpty else { throw ServiceError(problems: problems) }
        let after = json(try Config.load(environment: s.services.shared.settingsEnvironment.merging(merged) { _, new in new }))
        return try s.db.transaction {
            let version = try repo.set(merged)
            try s.audit(
                .configUpdate, target: AuditTarget("config", name: "runtime settings"),
                details: [
                    "changes": .object(AuditDetails.changes(before, after.objectValue ?? [:])), "version": JSON(Int(version))
                ])
            return version
        }
    }
}
