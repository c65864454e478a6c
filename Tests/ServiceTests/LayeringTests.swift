import Foundation
import Testing

/// The layers stay apart: the domain never imports the HTTP layer, and only Storage (and the
/// pipe's own artifact store) speaks SQL.
@Suite struct LayeringTests {
    static let sources = ErrorCatalogueTests.root.appendingPathComponent("Sources")

    static func files(in module: String) throws -> [(path: String, text: String)] {
        let dir = sources.appendingPathComponent(module)
        let tree = FileManager.default.enumerator(atPath: dir.path)
        var out: [(String, String)] = []
        while let path = tree?.nextObject() as? String {
            guard path.hasSuffix(".swift") else { continue }
            out.append((module + "/" + path, try String(contentsOf: dir.appendingPathComponent(path), encoding: .utf8)))
        }
        return out
    }

    @Test func theDomainNeverImportsHTTP() throws {
        let domain = try Self.files(in: "Service")
        #expect(domain.count > 20)
        for (path, text) in domain {
            for forbidden in ["import FastCGI", "import App", "import CFastCGI"] {
                #expect(!text.contains(forbidden), "\(path) has \(forbidden)")
            }
        }
        // Operator commands use the domain; only `serve` uses the HTTP layer.
        for (path, text) in try Self.files(in: "cryotensor") where text.contains("import App") {
            #expect(path.hasSuffix("Serve.swift"), "\(path) imports App")
        }
    }

    @Test func onlyRepositoriesWriteSQL() throws {
        let sql = ["db.run(", "db.query(", "db.queryOne(", "SELECT ", "INSERT INTO", "DELETE FROM", "UPDATE "]
        for module in ["App", "Service", "cryotensor"] {
            for (path, text) in try Self.files(in: module) {
                for statement in sql where text.contains(statement) {
                    Issue.record("\(path) writes SQL (\(statement.trimmingCharacters(in: .whitespaces)))")
                }
            }
        }
    }
}
