import Foundation
import Support
import Testing

/// The README's curl example, run as written against a real stack: only the password placeholder,
/// the port, the database and the binary are substituted, as the README says.
@Suite("README examples run as written", .serialized)
struct ReadmeTests {
    @Test func theCurlExampleAnswersAsTheTextSays() throws {
        let readme = try String(contentsOf: projectRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let marker = "Then, with `curl`"
        let after = try #require(readme.range(of: marker).map { readme[$0.upperBound...] })
        let open = try #require(after.range(of: "```sh\n"))
        let close = try #require(after[open.upperBound...].range(of: "```"))
        let block = String(after[open.upperBound..<close.lowerBound])
        #expect(block.contains("127.0.0.1:8080") && block.contains("\"password\":\"…\""), "the example changed shape: update this test")

        // The README's commands use the embedded default, SQLite at CRYOTENSOR_DB, in either pass.
        let stack = try Stack(engine: .sqlite)
        let password = try stack.addUser("admin@localhost.localdomain", admin: true)
        let script =
            block
            .replacingOccurrences(of: "\"password\":\"…\"", with: "\"password\":\"\(password)\"")
            .replacingOccurrences(of: "127.0.0.1:8080", with: "127.0.0.1:\(stack.port)")
            .replacingOccurrences(of: "CRYOTENSOR_DB=var/cryotensor.db", with: "CRYOTENSOR_DB=\(stack.dbPath)")
            .replacingOccurrences(of: ".build/release/cryotensor", with: responderBinary)
        let dir = NSTemporaryDirectory() + "ct-readme-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Each command's answer on its own line, so the three JSON answers can be told apart.
        let run = try runCommand(
            "/bin/bash",
            [
                "-c",
                "set -e; cd \(dir); "
                    + script.replacingOccurrences(
                        of: "\ncurl",
                        with: "\necho; curl")
            ])
        #expect(run.status == 0, "\(run.stderr)")
        let answers = run.stdout.split(separator: "\n").compactMap { try? JSON.parse(String($0)) }
        #expect(answers.count == 3, "\(run.stdout)")
        #expect(answers.first?["user"]?["email"] == "admin@localhost.localdomain", "login answers with the user")
        #expect(answers.dropFirst().first?["encryption"] != nil, "admin/status answers")
        let connection = try #require(answers.last)
        #expect(connection["api_key"]?["set"] == true && connection["api_key"]?["fingerprint"] != nil, "a fingerprint, as the comment says")
        #expect(!run.stdout.contains("PUT-YOUR-KEY-HERE"), "never the key")
    }
}
