import Foundation
import Support
import Synchronization
import TestSupport
import Testing

extension SuiteCluster {
    /// A new empty database; its URL carries a password (trust auth ignores it) that must never print.
    static func database(_ name: String) throws -> String {
        let cluster = try running()
        try psql(cluster.url(), "CREATE DATABASE \(name)")
        return cluster.url(database: name).replacingOccurrences(of: "\(cluster.role)@", with: "\(cluster.role):\(copyPassword)@")
    }
}

let copyPassword = "Hunter2-copy-pw"

@discardableResult
func psql(_ url: String, _ sql: String) throws -> String {
    let r = try runCommand("/usr/bin/psql", ["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
    guard r.status == 0 else { throw StackError("psql \(sql): \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

func sqlite(_ path: String, _ sql: String) throws -> String {
    let r = try runCommand("/usr/bin/sqlite3", [path, sql])
    guard r.status == 0 else { throw StackError("sqlite3 \(sql): \(r.stderr)") }
    return r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Every table copy-db copies, with its row count on SQLite and on PostgreSQL.
func tableCounts(sqlitePath: String, url: String) throws -> [(table: String, sqlite: Int, postgres: Int)] {
    let tables = try sqlite(
        sqlitePath,
        "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite_%'"
    ).split(separator: "\n").map(String.init)
    return try tables.map { table in
        (
            table, Int(try sqlite(sqlitePath, "SELECT COUNT(*) FROM \(table)")) ?? -1,
            Int(try psql(url, "SELECT COUNT(*) FROM \(table)")) ?? -2
        )
    }
}

@Suite("copy-db: SQLite into PostgreSQL", .serialized, SuiteCluster())
struct CopyDBTests {
    /// A populated SQLite stack (plaintext and sealed transcripts, a connection key, pipe
    /// artifacts, a fetched file) copied without a key; then the service on PostgreSQL serves
    /// the same answers, and the target's dump holds none of the sealed plaintext.
    @Test func everyRowArrivesAndThePostgreSQLServiceAnswersTheSame() throws {
        let files = try MockUpstream()
        let pipe = try PipeStack(
            valves: ["ARTIFACT_ENCRYPTION_KEY": .string(artifactKey)],
            env: [
                "CONFIG_ENCRYPTION_KEY": encryptionKeyA, "SSRF_ALLOWED_CIDRS": "127.0.0.1/32", "ALLOW_INSECURE_HTTP": "true",
                "ALLOW_INSECURE_HTTP_HOSTS": "127.0.0.1:\(files.port)"
            ])
        let stack = pipe.stack
        let admin = pipe.admin
        let plantedKey = "sk-COPYDB-" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
        let created = try admin.post(
            "/admin/connections",
            ["name": "mock", "kind": "openai", "base_url": .string(pipe.mock.baseURL), "api_key": .string(plantedKey)])
        #expect(created.status == 201)
        let alicePassword = try stack.addUser("alice@example.com")
        var alice = try stack.login("alice@example.com", alicePassword)

        // Plaintext: a chat, its search index rows, a fetched file, a pipe turn with artifacts.
        let plainChat = try #require(try alice.post("/chats", ["title": "plain zebra title"]).json?["id"]?.intValue)
        let plainText = "the plaintext zebra crossing " + UUID().uuidString
        #expect(
            try alice.post("/chats/\(plainChat)/messages", ["content": .string(plainText), "model": "mock-gpt-4o", "stream": false]).status
                == 201)
        let fetched = try alice.post("/files/fetch", ["url": .string("http://127.0.0.1:\(files.port)/__file?size=3000&type=text/plain")])
        #expect(fetched.status == 201)
        let fileID = try #require(fetched.json?["id"]?.intValue)
        let pipeChat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let pipePrompt = "pipe prompt " + UUID().uuidString
        let turn = try admin.streamEvents(
            "/chats/\(pipeChat)/messages", ["content": .string(pipePrompt), "model": "openrouter/mock-gpt-4o"])
        #expect(turn.last.flatMap { try? JSON.parse($0.data) }?["type"]?.stringValue == "done")

        // Sealed: local encryption on, a chat whose title and words are only ciphertext at rest.
        try stack.restartResponder(["ENABLE_LOCAL_ENCRYPTION": "true"])
        alice = try stack.login("alice@example.com", alicePassword)
        let sealedTitle = "sealed walrus title " + UUID().uuidString
        let sealedText = "the sealed walrus sentence " + UUID().uuidString
        let sealedChat = try #require(try alice.post("/chats", ["title": .string(sealedTitle)]).json?["id"]?.intValue)
        #expect(
            try alice.post("/chats/\(sealedChat)/messages", ["content": .string(sealedText), "model": "mock-gpt-4o", "stream": false])
                .status == 201)
        let blobs = try sqlite(stack.dbPath, "SELECT COUNT(*) FROM messages WHERE content_encrypted = 1 AND typeof(content) = 'blob'")
        #expect(blobs == "2", "the sealed question and answer are SQLite BLOBs")

        func snapshot(_ client: Client) throws -> [String] {
            var out = [try client.get("/chats").text]
            for chat in try client.get("/chats").json?["chats"]?.arrayValue ?? [] {
                out.append(try client.get("/chats/\(chat["id"]?.intValue ?? 0)").text)
            }
            return out
        }
        let aliceBefore = try snapshot(alice)
        let adminBefore = try snapshot(admin)
        let connectionsBefore = try admin.get("/admin/connections").text
        let keyBefore = (try? JSON.parse(connectionsBefore))?["connections"]?.arrayValue?.first?["api_key"]
        #expect(keyBefore?["fingerprint"]?.stringValue?.hasSuffix(String(plantedKey.suffix(4))) == true, "\(connectionsBefore)")
        #expect(keyBefore?["storage"] == "encrypted")
        let fileBefore = try alice.get("/files/\(fileID)").text
        let contentBefore = try alice.get("/files/\(fileID)/content").body
        let valvesBefore = try admin.get("/admin/pipes/openrouter/valves").text
        let highestMessage = Int(try sqlite(stack.dbPath, "SELECT MAX(id) FROM messages")) ?? 0
        try stack.stackCommand("responder-stop")

        // No key at all: ciphertext is copied as it is.
        let url = try SuiteCluster.database("copy_full")
        let noKey: [String: String?] = ["CONFIG_ENCRYPTION_KEY": nil, "ENABLE_LOCAL_ENCRYPTION": nil, "WEBUI_SECRET_KEY": nil]
        let copied = try stack.cli(["copy-db", "--to", url], env: noKey)
        #expect(copied.status == 0, "\(copied.stderr)")
        #expect(copied.stdout.contains("every count matches"))
        #expect(copied.stderr.contains("messages: "), "progress on stderr")
        #expect(copied.stderr.contains("not recorded in the audit trail"), "a keyless event would break a keyed chain")
        #expect(!(copied.stdout + copied.stderr).contains(copyPassword))
        let counts = try tableCounts(sqlitePath: stack.dbPath, url: url)
        for count in counts {
            #expect(count.sqlite == count.postgres, "\(count.table): \(count.sqlite) on SQLite, \(count.postgres) copied")
        }
        let names = Set(counts.map(\.table))
        #expect(names.isSuperset(of: ["users", "chats", "messages", "chat_search", "files", "connections", "pipe_valves", "audit_events"]))
        let artifacts = try #require(counts.first { $0.table.hasPrefix("response_items_") })
        #expect(artifacts.postgres == 3, "reasoning, call and output")
        #expect(try psql(url, "SELECT COUNT(*) FROM messages WHERE content_encrypted = 1 AND content LIKE 'ct1.%'") == "2")
        #expect(try psql(url, "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'copy_db_progress'") == "0")

        // The target holds data now: refused, then --force with the key records the copy.
        let again = try stack.cli(["copy-db", "--to", url], env: noKey)
        #expect(again.status == 1)
        #expect(again.stderr.contains("already holds data") && !again.stderr.contains(copyPassword))
        let forced = try stack.cli(["copy-db", "--to", url, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(!forced.stderr.contains("not recorded"))
        for count in try tableCounts(sqlitePath: stack.dbPath, url: url) where count.table != "audit_events" {
            #expect(count.sqlite == count.postgres, "\(count.table) after --force")
        }
        let onTarget: [String: String?] = ["DATABASE_URL": url]
        let verified = try stack.cli(["audit", "verify"], env: onTarget)
        #expect(verified.status == 0, "\(verified.stdout)")
        #expect(try stack.cli(["audit", "export"], env: onTarget).stdout.contains("\"database.copy\""))

        // The dump: plaintext where the source had plaintext, none where it had ciphertext.
        let dump = try runCommand("/usr/bin/pg_dump", ["-d", url])
        #expect(dump.status == 0)
        #expect(dump.stdout.contains(plainText), "the dump is readable")
        for secret in [sealedText, sealedTitle, plantedKey, "sk-or-v1-pipe-key-0123456789", "REASONING about: \(pipePrompt)"] {
            #expect(!dump.stdout.contains(secret), "\(secret) in the dump")
        }
        stack.stop()

        // The service on PostgreSQL: the same chats, keys, files and valves.
        let pg = try Stack(env: [
            "DATABASE_URL": url, "CONFIG_ENCRYPTION_KEY": encryptionKeyA, "ENABLE_LOCAL_ENCRYPTION": "true",
            "WEBUI_SECRET_KEY": webuiKeyA, "OPENAI_ALLOWED_API_BASE_URLS": pipe.mock.baseURL
        ])
        let aliceThere = try pg.login("alice@example.com", alicePassword)
        #expect(try snapshot(aliceThere) == aliceBefore)
        #expect(try aliceThere.get("/files/\(fileID)").text == fileBefore)
        #expect(try aliceThere.get("/files/\(fileID)/content").body == contentBefore)
        let adminThere = try pg.login("admin@example.com", pipe.adminPassword)
        #expect(try snapshot(adminThere) == adminBefore)
        #expect(try adminThere.get("/admin/connections").text == connectionsBefore)
        #expect(try adminThere.get("/admin/pipes/openrouter/valves").text == valvesBefore)
        // The pipe's artifacts replay from the copied table, and new rows get new ids.
        _ = try adminThere.streamEvents("/chats/\(pipeChat)/messages", ["content": "second", "model": "openrouter/mock-gpt-4o"])
        let replayed = try pipe.mock.requests().last { ($0["path"]?.stringValue ?? "").hasSuffix("/responses") }
        let input = (try? JSON.parse(replayed?["body"]?.stringValue ?? ""))?["input"]?.arrayValue ?? []
        #expect(input.contains { $0["type"]?.stringValue == "reasoning" && $0["id"]?.stringValue == "rs_1" })
        let newChat = try #require(try aliceThere.post("/chats", [:]).json?["id"]?.intValue)
        #expect(newChat > sealedChat)
        #expect(
            try aliceThere.post("/chats/\(newChat)/messages", ["content": "after the move", "model": "mock-gpt-4o", "stream": false]).status
                == 201)
        #expect((Int(try psql(url, "SELECT MIN(id) FROM messages WHERE chat_id = \(newChat)")) ?? 0) > highestMessage)
        #expect(try pg.cli(["audit", "verify"]).status == 0)
    }

    /// A copy killed mid-table leaves whole batches; run again, it resumes and ends with the
    /// same counts, no row twice.
    @Test func anInterruptedCopyResumesAndEndsWithMatchingCounts() throws {
        let stack = try Stack(env: ["CONFIG_ENCRYPTION_KEY": encryptionKeyA])
        let user = try stack.signedIn("bulk@example.com")
        let chat = try #require(try user.post("/chats", ["title": "bulk"]).json?["id"]?.intValue)
        try stack.stackCommand("responder-stop")
        let total = 20_000
        _ = try sqlite(
            stack.dbPath,
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(total))
            INSERT INTO messages (chat_id, role, content, model, status, created_at)
            SELECT \(chat), 'user', 'bulk message ' || i || ' ' || hex(randomblob(64)), 'm', 'complete', 1700000000 + i FROM n;
            INSERT INTO chat_search (body, chat_id, user_id, message_id)
            SELECT content, chat_id, (SELECT user_id FROM chats WHERE id = \(chat)), id FROM messages;
            """)
        let url = try SuiteCluster.database("copy_resume")
        var environment = stack.environment
        environment["CONFIG_ENCRYPTION_KEY"] = encryptionKeyA
        let first = try Child(responderBinary, ["copy-db", "--to", url, "--batch-rows", "100"], environment: environment)
        #expect(waitForStderr(first, "messages: ", within: 60), "progress reached the messages table")
        first.signal(SIGKILL)
        _ = first.readAll()
        #expect(first.wait() == 128 + SIGKILL)
        let partial = Int(try psql(url, "SELECT COUNT(*) FROM messages")) ?? -1
        #expect(partial > 0 && partial < total, "killed mid-way: \(partial) of \(total)")

        let rerun = try runCommand(responderBinary, ["copy-db", "--to", url, "--batch-rows", "100"], environment: environment)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr.contains("resuming the unfinished copy"))
        #expect(rerun.stderr.contains("there before"))
        for count in try tableCounts(sqlitePath: stack.dbPath, url: url) where count.table != "audit_events" {
            #expect(count.sqlite == count.postgres, "\(count.table): \(count.sqlite) on SQLite, \(count.postgres) copied")
        }
        #expect(try psql(url, "SELECT COUNT(DISTINCT id) FROM messages") == String(total))
        #expect(try psql(url, "SELECT COUNT(*) FROM chat_search WHERE message_id > 0") == String(total))
        let top = Int(try psql(url, "SELECT MAX(id) FROM messages")) ?? 0
        #expect((Int(try psql(url, "SELECT nextval(pg_get_serial_sequence('messages', 'id'))")) ?? 0) > top)
        #expect(try stack.cli(["audit", "verify"], env: ["DATABASE_URL": url]).status == 0)
        if let rate = rerun.stderr.split(separator: "\n").first(where: { $0.contains("rows/s") }) { print("copy-db resume: \(rate)") }
    }

    /// Mistyped URLs and servers that are not there: a clear error, and never the password.
    @Test func badURLsAndUnreachableServersFailClearlyWithoutThePassword() throws {
        let dir = NSTemporaryDirectory() + "ct-copydb-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("CRYOTENSOR_") || key.contains("ENCRYPTION") || key == "DATABASE_URL" {
            environment[key] = nil
        }
        environment["CRYOTENSOR_DB"] = dir + "/cryotensor.db"
        func copyDB(_ args: [String], _ extra: [String: String] = [:]) throws -> CommandResult {
            try runCommand(responderBinary, ["copy-db"] + args, environment: environment.merging(extra) { _, new in new })
        }
        let missing = try copyDB(["--to", "postgresql://ct:\(copyPassword)@/db?host=\(dir)"])
        #expect(missing.status == 1 && missing.stderr.contains("no SQLite database"))
        #expect(try runCommand(responderBinary, ["migrate"], environment: environment).status == 0)

        let cases: [(args: [String], status: Int32, says: String)] = [
            (["--to", "postgresql://ct:\(copyPassword)@/db?host=\(dir)/nowhere"], 1, "cannot connect to postgresql://ct:***@"),
            (["--to", "postgresql://ct:\(copyPassword)%zz@/db"], 2, "libpq cannot read it"),
            (["--to", "postgresql://ct@/db?password=\(copyPassword)%zz"], 2, "libpq cannot read it"),
            (["--to", "mysql://ct:\(copyPassword)@db/ct"], 2, "expected postgresql://"),
            (["--to", "postgresql://ct:\(copyPassword)@db/ct?sslmode=disable"], 2, "sslmode=disable"),
            ([], 2, "usage: cryotensor copy-db"),
            (["--to", "postgresql://ct@db/ct", "--batch-rows", "0"], 2, "--batch-rows")
        ]
        for c in cases {
            let r = try copyDB(c.args)
            #expect(r.status == c.status, "\(c.args): \(r.stderr)")
            #expect(r.stderr.contains(c.says), "\(c.args): \(r.stderr)")
            #expect(!(r.stdout + r.stderr).contains(copyPassword), "\(c.args): \(r.stderr)")
        }
        // A database that does not exist on a server that does.
        let cluster = try SuiteCluster.running()
        let absent = cluster.url(database: "no_such_db").replacingOccurrences(
            of: "\(cluster.role)@", with: "\(cluster.role):\(copyPassword)@")
        let r = try copyDB(["--to", absent])
        #expect(r.status == 1 && r.stderr.contains("no_such_db") && !r.stderr.contains(copyPassword), "\(r.stderr)")
        // The source is the SQLite file: a configured DATABASE_URL is refused, masked.
        let configured = try copyDB(["--to", absent], ["DATABASE_URL": "postgresql://ct:\(copyPassword)@db/ct"])
        #expect(configured.status == 1 && configured.stderr.contains("DATABASE_URL is set") && !configured.stderr.contains(copyPassword))
    }
}

/// Reads a child's stderr until it holds `text` or `seconds` pass.
func waitForStderr(_ child: Child, _ text: String, within seconds: Double) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var seen = Data()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while Date() < deadline, child.stderrFD >= 0 {
        var fd = pollfd(fd: child.stderrFD, events: Int16(POLLIN), revents: 0)
        guard poll(&fd, 1, 100) > 0 else { continue }
        let n = read(child.stderrFD, &buffer, buffer.count)
        guard n > 0 else { return false }
        seen.append(contentsOf: buffer[0..<n])
        if String(decoding: seen, as: UTF8.self).contains(text) { return true }
    }
    return false
}
