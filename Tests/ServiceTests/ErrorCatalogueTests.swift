import Foundation
import Service
import Testing

/// The error catalogue, the docs and the code agree: every code is documented exactly as the
/// catalogue says, and every code is used somewhere outside the catalogue.
@Suite struct ErrorCatalogueTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func docsListEveryCodeAsTheCatalogueDoes() throws {
        let doc = try String(contentsOf: Self.root.appendingPathComponent("docs/api.md"), encoding: .utf8)
        #expect(doc.contains(ErrorCode.markdownTable), "docs/api.md's Errors table must read:\n\(ErrorCode.markdownTable)")
        // No other table row in the Errors section names a code the catalogue lacks.
        let section = doc.components(separatedBy: "## Errors").dropFirst().first?.components(separatedBy: "\n## ").first ?? ""
        let known = Set(ErrorCode.allCases.map(\.rawValue))
        for line in section.split(separator: "\n") where line.hasPrefix("| ") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count > 2 else { continue }
            for code in cells[2].split(separator: "`").enumerated().filter({ $0.offset % 2 == 1 }).map({ String($0.element) }) {
                #expect(known.contains(code), "docs/api.md documents `\(code)`, which the catalogue does not have")
            }
        }
    }

    @Test func everyCodeIsUsedOutsideTheCatalogue() throws {
        var sources = ""
        let tree = FileManager.default.enumerator(atPath: Self.root.appendingPathComponent("Sources").path)
        while let path = tree?.nextObject() as? String {
            guard path.hasSuffix(".swift"), !path.hasSuffix("ErrorCode.swift") else { continue }
            sources += try String(contentsOf: Self.root.appendingPathComponent("Sources").appendingPathComponent(path), encoding: .utf8)
        }
        for code in ErrorCode.allCases {
            let name = String(describing: code)
            let used =
                sources.contains(".\(name))") || sources.contains(".\(name),") || sources.contains(".\(name) ")
                || sources.contains(".\(name):") || sources.contains(".\(name)\n") || sources.contains(".\(name)]")
            #expect(used, "ErrorCode.\(name) is in the catalogue but never used")
        }
    }

    @Test func statusesAreHTTPErrorStatuses() {
        for code in ErrorCode.allCases { #expect((400...599).contains(code.status), "\(code)") }
        #expect(Set(ErrorCode.allCases.map(\.rawValue)).count == ErrorCode.allCases.count)
    }
}

extension ErrorCatalogueTests {
    /// What is logged of an error is its code and message: a failed turn's error carries the stored
    /// answer in `extra`, which no log may hold.
    @Test func anErrorPrintsNeitherItsAnswerNorItsExtras() {
        var error = ServiceError(.upstreamStatus, "The provider answered HTTP 500.")
        error.extra = ["message": ["content": "a decrypted answer 4711"]]
        #expect(String(describing: error) == "upstream_status: The provider answered HTTP 500.")
        #expect(!"\(error)".contains("4711"))
    }
}
