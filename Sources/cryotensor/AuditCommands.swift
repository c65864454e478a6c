import Foundation
import Service
import Storage
import Support

/// `cryotensor audit verify` and `cryotensor audit export [--since UNIX]`.
extension Commands {
    static func audit(_ args: [String], environment: [String: String]) -> Int32 {
        let usage = "usage: cryotensor audit verify | cryotensor audit export [--since UNIX]"
        guard let sub = args.first, let parsed = options(Array(args.dropFirst())), parsed.positional.isEmpty else {
            return fail(usage, code: 2)
        }
        switch sub {
        case "verify" where parsed.values.isEmpty: return auditVerify(environment: environment)
        case "export" where Set(parsed.values.keys).isSubset(of: ["--since"]):
            var since: Int64? = nil
            if let text = parsed.values["--since"] {
                guard let value = Int64(text), value >= 0 else { return fail("--since must be a Unix time in seconds", code: 2) }
                since = value
            }
            return auditExport(since: since, environment: environment)
        default: return fail(usage, code: 2)
        }
    }

    static func auditVerify(environment: [String: String]) -> Int32 {
        guard let config = loadConfig(environment) else { return 2 }
        guard let db = openDatabase(config) else { return 1 }
        do {
            let result = try AuditVerifier.verify(db: db, keys: AuditKeys(config: config))
            if let failure = result.failure {
                print("audit chain broken at event \(failure.eventID) (\(failure.problem.rawValue)): \(failure.message)")
                return 1
            }
            let range = result.firstID.map { "events \($0)...\(result.lastID ?? $0)" } ?? "no events"
            var line = "audit chain whole: \(result.checked) events checked (\(range))"
            if result.keyless > 0 { line += "; \(result.keyless) chained without a key (SHA-256: detects edits, not a full rewrite)" }
            print(line)
            return 0
        } catch {
            return fail("\(error)")
        }
    }

    static func auditExport(since: Int64?, environment: [String: String]) -> Int32 {
        guard let config = loadConfig(environment) else { return 2 }
        guard let db = openDatabase(config) else { return 1 }
        do {
            var buffer = ""
            _ = try AuditReader.export(db: db, since: since) { row in
                buffer += row.json.serialized() + "\n"
                if buffer.utf8.count > 1 << 16 { FileHandle.standardOutput.write(Data(buffer.utf8)); buffer = "" }
            }
            FileHandle.standardOutput.write(Data(buffer.utf8))
            return 0
        } catch {
            return fail("\(error)")
        }
    }
}
