import Foundation
import Support
import Synchronization
import TestSupport
import Testing

/// The repository root, found from this file's path.
let projectRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The responder binary under test: CRYOTENSOR_BIN, or the debug build.
let responderBinary: String =
    ProcessInfo.processInfo.environment["CRYOTENSOR_BIN"]
    ?? projectRoot.appendingPathComponent(".build/debug/cryotensor").path

struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Runs a program to completion, optionally feeding standard input.
@discardableResult
func runCommand(_ path: String, _ args: [String], environment: [String: String]? = nil, stdin: String? = nil) throws -> CommandResult {
    let child = try Child(path, args, environment: environment, stdin: stdin ?? "")
    let (out, err) = child.readAll()
    let status = child.wait()
    return CommandResult(status: status, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}

/// A loopback port nobody listens on now: the kernel picks it, we release it for nginx.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// One real stack (redis-server, responder, nginx) in its own directory and port. With
/// CT_TEST_ENGINE=postgresql its store is a fresh database on the test process's cluster
/// (`DATABASE_URL`; CRYOTENSOR_DB stays set, and nothing may use it).
final class Stack: @unchecked Sendable {
    let dir: URL
    let port: Int
    let environment: [String: String]
    /// The PostgreSQL database this stack made (dropped with it); nil on SQLite.
    let databaseURL: String?

    var base: String { "http://127.0.0.1:\(port)/api/v1" }
    var dbPath: String { dir.appendingPathComponent("cryotensor.db").path }
    var redisSocket: String { dir.appendingPathComponent("run/redis.sock").path }
    var engine: TestEngine { databaseURL == nil ? .sqlite : .postgresql }

    /// `port`: nginx's port when a test must know it before the start (a provider's redirect URI).
    /// `engine`: the store; a test about SQLite's own behaviour (the README's default) names it.
    init(
        env: [String: String] = [:], redis: Bool = true, spawnFCGI: Bool = false, threads: Int = 4, port: Int? = nil,
        engine: TestEngine = .current
    ) throws {
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-it-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        self.port = port ?? freePort()
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys
        where key.hasPrefix("CRYOTENSOR_") || key == "REDIS_URL" || key == "DATABASE_URL" || key.contains("ENCRYPTION") {
            environment[key] = nil
        }
        environment["CRYOTENSOR_DB"] = dir.appendingPathComponent("cryotensor.db").path
        if redis { environment["REDIS_URL"] = "unix://" + dir.appendingPathComponent("run/redis.sock").path }
        var databaseURL: String? = nil
        if engine == .postgresql, env["DATABASE_URL"] == nil {
            let url = try TestPostgres.freshDatabaseURL(prefix: "ct_it")
            databaseURL = url
            environment["DATABASE_URL"] = url
            // One responder per stack: it may keep secrets in memory when a test leaves the key unset.
            environment["CRYOTENSOR_SERVE_ARGS"] = "--single-responder"
        }
        self.databaseURL = databaseURL
        for (k, v) in env {
            environment[k] = k == "CRYOTENSOR_SERVE_ARGS" ? [environment[k], v].compactMap { $0 }.joined(separator: " ") : v
        }
        self.environment = environment
        var args = ["start", "--var", dir.path, "--port", String(self.port), "--bin", responderBinary, "--threads", String(threads)]
        if !redis { args.append("--no-redis") }
        if spawnFCGI { args.append("--spawn-fcgi") }
        let result = try runCommand(projectRoot.appendingPathComponent("scripts/stack").path, args, environment: environment)
        guard result.status == 0 else {
            throw StackError("stack start failed: \(result.stderr)\n\(log("cryotensor.log"))")
        }
    }

    func stop() {
        _ = try? runCommand(projectRoot.appendingPathComponent("scripts/stack").path, ["stop", "--var", dir.path], environment: environment)
    }

    deinit {
        stop()
        // Keep the directory (logs, database) for a post-mortem only when asked to.
        if ProcessInfo.processInfo.environment["CRYOTENSOR_KEEP_TEST_DIRS"] == nil {
            try? FileManager.default.removeItem(at: dir)
            if let databaseURL { TestPostgres.dropDatabase(databaseURL) }
        }
    }

    /// Runs SQL against the stack's store: `sqlite3 DB QUERY` or `psql -At -F '|' URL -c QUERY`,
    /// the same shape from both (rows as lines, columns joined by `|`, no header).
    @discardableResult
    func sql(_ query: String) throws -> String {
        if let databaseURL { return try TestPostgres.psql(databaseURL, query) }
        let r = try runCommand("/usr/bin/sqlite3", [dbPath, query])
        guard r.status == 0 else { throw StackError("sqlite3: \(r.stderr)") }
        return r.stdout
    }

    /// Names of the store's tables matching a LIKE pattern, one a line (the catalogue differs).
    func tables(like pattern: String) throws -> String {
        try sql(
            databaseURL == nil
                ? "SELECT name FROM sqlite_master WHERE name LIKE '\(pattern)' AND type = 'table'"
                : "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE '\(pattern)'")
    }

    /// What a test about the SQLite file itself (modes, WAL, PRAGMA) needs: on PostgreSQL it is skipped.
    static var onSQLite: Bool { TestEngine.current == .sqlite }

    func stackCommand(_ action: String) throws {
        let r = try runCommand(
            projectRoot.appendingPathComponent("scripts/stack").path, [action, "--var", dir.path],
            environment: environment)
        guard r.status == 0 else { throw StackError("\(action): \(r.stderr)") }
    }

    func log(_ name: String) -> String {
        (try? String(contentsOf: dir.appendingPathComponent("log/" + name), encoding: .utf8)) ?? ""
    }

    func pid(_ name: String) -> Int32? {
        (try? String(contentsOf: dir.appendingPathComponent("run/\(name).pid"), encoding: .utf8))
            .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    /// The operator CLI against this stack's database.
    func cli(_ args: [String], stdin: String? = nil) throws -> CommandResult {
        try runCommand(responderBinary, args, environment: environment, stdin: stdin)
    }

    /// Creates a user with the CLI and returns its password.
    @discardableResult
    func addUser(_ email: String, admin: Bool = false, password: String = "pw-" + UUID().uuidString) throws -> String {
        let r = try cli(["user", "add", email] + (admin ? ["--admin"] : []), stdin: password + "\n")
        guard r.status == 0 else { throw StackError("user add: \(r.stderr)") }
        return password
    }

    /// Logs in and returns a client carrying the session cookie and CSRF token.
    /// A new account, signed in: where most tests start.
    func signedIn(_ email: String, admin: Bool = false) throws -> Client {
        try login(email, try addUser(email, admin: admin))
    }

    func login(_ email: String, _ password: String) throws -> Client {
        let client = Client(base: base)
        let r = try client.post("/auth/login", ["email": .string(email), "password": .string(password)])
        guard r.status == 200, let csrf = r.json?["csrf_token"]?.stringValue else {
            throw StackError(
                "login failed: "
                    + "\(r.status) \(r.text)")
        }
        client.csrf = csrf
        return client
    }

    /// Every byte the stack wrote to disk that could hold a secret: database, WAL, logs, redis dump.
    /// On PostgreSQL the store is not in the folder: a `pg_dump` of its database stands for it
    /// (named `pg_dump`; a dump that fails is a test failure, never an empty pass).
    func persistedBytes() -> [(String, Data)] {
        var out: [(String, Data)] = []
        if let databaseURL {
            do {
                out.append(("pg_dump", Data(try TestPostgres.dump(databaseURL).utf8)))
            } catch {
                Issue.record("pg_dump failed: \(error)")
            }
        }
        let files = FileManager.default.enumerator(atPath: dir.path)
        while let name = files?.nextObject() as? String {
            let url = dir.appendingPathComponent(name)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir), !isDir.boolValue,
                !name.hasSuffix(".sock"), let data = try? Data(contentsOf: url)
            else { continue }
            out.append((name, data))
        }
        return out
    }
}

struct StackError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

struct HTTPResult {
    let status: Int
    let headers: [String: String]
    let body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSON? { try? JSON.parse(Array(body)) }
    var errorCode: String? { json?["error"]?["code"]?.stringValue }
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A real HTTP client: curl, driven as a person would from a shell. Cookies are kept per client.
final class Client: @unchecked Sendable {
    let base: String
    let cookieJar: String
    var csrf: String?
    var bearer: String?

    init(base: String) {
        self.base = base
        cookieJar = NSTemporaryDirectory() + "ct-cookies-\(UUID().uuidString)"
    }

    func request(
        _ method: String, _ path: String, body: Data? = nil, headers: [String: String] = [:],
        contentType: String? = "application/json"
    ) throws -> HTTPResult {
        let headerFile = NSTemporaryDirectory() + "ct-h-\(UUID().uuidString)"
        let bodyFile = NSTemporaryDirectory() + "ct-b-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: headerFile); try? FileManager.default.removeItem(atPath: bodyFile) }
        var args = [
            "-sS", "--http1.1", "-X", method, "-D", headerFile, "-o", bodyFile, "-b", cookieJar, "-c", cookieJar,
            "-H", "Expect:", "--max-time", "60"
        ]
        var allHeaders = headers
        if let csrf, allHeaders["X-CSRF-Token"] == nil { allHeaders["X-CSRF-Token"] = csrf }
        if let bearer { allHeaders["Authorization"] = "Bearer " + bearer }
        for (k, v) in allHeaders { args += ["-H", "\(k): \(v)"] }
        var bodyPath: String? = nil
        if let body {
            let p = NSTemporaryDirectory() + "ct-req-\(UUID().uuidString)"
            try body.write(to: URL(fileURLWithPath: p))
            bodyPath = p
            if let contentType { args += ["-H", "Content-Type: \(contentType)"] }
            args += ["--data-binary", "@" + p]
        }
        defer { if let bodyPath { try? FileManager.default.removeItem(atPath: bodyPath) } }
        args.append(base + path)
        let r = try runCommand("/usr/bin/curl", args)
        guard r.status == 0 else { throw StackError("curl failed (\(r.status)): \(r.stderr)") }
        let rawHeaders = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        var status = 0
        var parsed: [String: String] = [:]
        for line in rawHeaders.components(separatedBy: "\r\n") {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                parsed = [:]
            } else if let colon = line.firstIndex(of: ":") {
                parsed[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        let body = (try? Data(contentsOf: URL(fileURLWithPath: bodyFile))) ?? Data()
        return HTTPResult(status: status, headers: parsed, body: body)
    }

    func get(_ path: String, headers: [String: String] = [:]) throws -> HTTPResult { try request("GET", path, headers: headers) }
    func delete(_ path: String) throws -> HTTPResult { try request("DELETE", path) }
    func post(_ path: String, _ json: JSON, headers: [String: String] = [:]) throws -> HTTPResult {
        try request("POST", path, body: Data(json.serialized().utf8), headers: headers)
    }
    func patch(_ path: String, _ json: JSON) throws -> HTTPResult { try request("PATCH", path, body: Data(json.serialized().utf8)) }
    func put(_ path: String, _ json: JSON) throws -> HTTPResult { try request("PUT", path, body: Data(json.serialized().utf8)) }

    /// The raw cookie header a browser would send, for tests that need it.
    var sessionCookie: String? {
        guard let jar = try? String(contentsOfFile: cookieJar, encoding: .utf8) else { return nil }
        for line in jar.split(separator: "\n") where line.contains("\tct_session\t") {
            return line.split(separator: "\t").last.map(String.init)
        }
        return nil
    }
}

extension Data {
    func contains(_ text: String) -> Bool { range(of: Data(text.utf8)) != nil }
}

extension Stack {
    /// Stops the responder and starts it again with `changes` applied to its environment.
    func restartResponder(_ changes: [String: String?] = [:]) throws {
        try stackCommand("responder-stop")
        var env = environment
        for (k, v) in changes { env[k] = v }
        let r = try runCommand(
            projectRoot.appendingPathComponent("scripts/stack").path,
            ["responder-start", "--var", dir.path, "--bin", responderBinary], environment: env)
        guard r.status == 0 else { throw StackError("responder-start: \(r.stderr)") }
    }

    /// Runs the CLI with `changes` applied to the environment.
    func cli(_ args: [String], env changes: [String: String?]) throws -> CommandResult {
        var env = environment
        for (k, v) in changes { env[k] = v }
        return try runCommand(responderBinary, args, environment: env)
    }

    func redis(_ args: [String]) throws -> String {
        try runCommand("/usr/bin/redis-cli", ["-s", redisSocket] + args).stdout
    }
}

/// scripts/mock-upstream on a loopback port: an OpenAI-compatible provider that records requests.
final class MockUpstream: @unchecked Sendable {
    let child: Child
    let port: Int
    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    init(_ args: [String] = []) throws {
        child = try Child(projectRoot.appendingPathComponent("scripts/mock-upstream").path, ["--port", "0"] + args)
        var line = [UInt8]()
        var byte: UInt8 = 0
        while read(child.stdoutFD, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        guard let port = Int(String(decoding: line, as: UTF8.self)) else { throw StackError("mock upstream did not start") }
        self.port = port
    }

    deinit {
        child.signal(SIGTERM)
        child.wait()
    }

    /// Every request the mock received so far.
    func requests() throws -> [JSON] {
        let r = try runCommand("/usr/bin/curl", ["-s", "http://127.0.0.1:\(port)/__requests"])
        return (try? JSON.parse(r.stdout))?.arrayValue ?? []
    }
}

extension Client {
    /// POSTs JSON with curl -N and returns each server-sent `data:` payload with the seconds
    /// since the request started at which it arrived.
    func streamEvents(_ path: String, _ json: JSON) throws -> [(at: Double, data: String)] {
        var args = [
            "-sN", "--http1.1", "-X", "POST", "-b", cookieJar, "-H", "Content-Type: application/json", "-H", "Expect:",
            "--max-time", "60", "--data-binary", json.serialized()
        ]
        if let csrf { args += ["-H", "X-CSRF-Token: \(csrf)"] }
        if let bearer { args += ["-H", "Authorization: Bearer \(bearer)"] }
        args.append(base + path)
        let start = Date()
        let child = try Child("/usr/bin/curl", args)
        var events: [(Double, String)] = []
        var parser = SSEDataParser()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(child.stdoutFD, &buffer, buffer.count)
            if n <= 0 { break }
            let at = Date().timeIntervalSince(start)
            for payload in parser.feed(Array(buffer[0..<n])) { events.append((at, payload)) }
        }
        close(child.stdoutFD)
        close(child.stderrFD)
        child.wait()
        return events
    }
}

let webuiKeyA = "webui-secret-A-0123456789-abcdefghijkl"

/// A stack whose OpenRouter pipe talks to the mock: an admin logged in, the pipe's valves set
/// (BASE_URL, API_KEY, plus `valves`), WEBUI_SECRET_KEY set.
struct PipeStack {
    let mock: MockUpstream
    let stack: Stack
    let admin: Client
    let adminPassword: String

    init(valves: [String: JSON] = [:], mockArgs: [String] = [], env: [String: String] = [:]) throws {
        mock = try MockUpstream(["--delay", "0"] + mockArgs)
        var environment = ["OPENAI_ALLOWED_API_BASE_URLS": mock.baseURL, "WEBUI_SECRET_KEY": webuiKeyA]
        for (k, v) in env { environment[k] = v }
        stack = try Stack(env: environment)
        adminPassword = try stack.addUser("admin@example.com", admin: true)
        admin = try stack.login("admin@example.com", adminPassword)
        var all: [String: JSON] = ["BASE_URL": .string(mock.baseURL), "API_KEY": "sk-or-v1-pipe-key-0123456789"]
        for (k, v) in valves { all[k] = v }
        let r = try admin.put("/admin/pipes/openrouter/valves", ["valves": .object(all)])
        guard r.status == 200 else { throw StackError("valves: \(r.text)") }
    }
}
