import Foundation
import Support
import Synchronization
import TestSupport
import Testing

/// Two responders on one PostgreSQL database and one Redis, each behind its own nginx, and both
/// behind a third nginx's `upstream` (SPEC section 9): nothing may depend on where a request lands.
@Suite("More than one host: two responders on PostgreSQL", .serialized)
struct ClusterTests {
    static let key = "cluster-test-key-0123456789abcdefghijklmnopq"

    final class Cluster: @unchecked Sendable {
        let postgres: PostgresCluster
        let mock: MockUpstream
        let a: Stack
        let b: Stack
        let front: FrontNginx
        let admin: Client

        init(perUser: Int = 8, delay: Double = 0.25, chunks: Int = 40) throws {
            let postgres = try PostgresCluster()
            self.postgres = postgres
            // deinit does not run for an object that failed half-way: the cluster must not outlive the test.
            var ready = false
            defer { if !ready { postgres.stop() } }
            try postgres.createDatabase("cryotensor")
            mock = try MockUpstream(["--delay", String(delay), "--chunks", String(chunks)])
            let shared = [
                "DATABASE_URL": postgres.url(database: "cryotensor"), "CONFIG_ENCRYPTION_KEY": ClusterTests.key,
                "OPENAI_ALLOWED_API_BASE_URLS": mock.baseURL
            ]
            a = try Stack(env: shared)
            b = try Stack(env: shared.merging(["REDIS_URL": "unix://" + a.redisSocket]) { _, new in new }, redis: false)
            front = try FrontNginx(over: [a, b])
            admin = try a.signedIn("admin@example.com", admin: true)
            let made = try admin.post(
                "/admin/connections",
                ["name": "slow", "kind": "openai", "base_url": .string(mock.baseURL), "api_key": "sk-cluster-provider-0123456789"])
            guard made.status == 201 else { throw StackError("connection: \(made.status) \(made.text)") }
            if perUser != 8 {
                guard try admin.patch("/admin/config", ["max_streams_per_user": .number(Double(perUser))]).status == 200 else {
                    throw StackError("max_streams_per_user not set")
                }
            }
            ready = true
        }

        deinit {
            front.stop()
            postgres.stop()
        }

        /// `client`'s cookies and CSRF token, used against another base URL.
        func same(_ client: Client, on stack: Stack) -> Client {
            let other = Client(base: stack.base)
            try? FileManager.default.copyItem(atPath: client.cookieJar, toPath: other.cookieJar)
            other.csrf = client.csrf
            return other
        }

        func sql(_ query: String) throws -> String {
            try runCommand("/usr/bin/psql", ["-At", postgres.url(database: "cryotensor"), "-c", query]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    @Test func aSessionMadeOnOneResponderWorksOnTheOther() throws {
        let c = try Cluster()
        let onB = c.same(c.admin, on: c.b)
        let me = try onB.get("/auth/me")
        #expect(me.status == 200 && me.json?["user"]?["email"] == "admin@example.com")
        // A chat made through B is read through A, and a token made on A works on B.
        let chat = try #require(try onB.post("/chats", [:]).json?["id"]?.intValue)
        #expect(try c.admin.get("/chats/\(chat)").status == 200)
        let token = try #require(try c.admin.post("/tokens", ["name": "cli"]).json?["token"]?.stringValue)
        let bearer = Client(base: c.b.base)
        bearer.bearer = token
        #expect(try bearer.get("/chats").status == 200)
        // Status names the engine.
        let status = try #require(try onB.get("/admin/status").json)
        #expect(status["database"]?["engine"] == "postgresql" && status["database"]?["status"] == "ok")
        #expect((status["database"]?["schema_version"]?.intValue ?? 0) >= 9)
        #expect(!(try onB.get("/admin/status").text.contains("postgresql://")), "status does not show the URL")
    }

    @Test func aSettingChangedOnOneHoldsOnTheOtherWithinASecond() throws {
        let c = try Cluster()
        let onB = c.same(c.admin, on: c.b)
        #expect(try onB.get("/admin/config").json?["settings"]?["max_streams_per_user"] == 8)
        #expect(try c.admin.patch("/admin/config", ["max_streams_per_user": 3]).status == 200)
        let changed = Date()
        var seen = false
        while !seen, Date().timeIntervalSince(changed) < 1 {
            seen = try onB.get("/admin/config").json?["settings"]?["max_streams_per_user"] == 3
        }
        #expect(seen, "B still shows the old value a second later")
        // A connection added on B is served by A's model list at once.
        _ = try onB.post(
            "/admin/connections",
            ["name": "second", "kind": "openai", "base_url": .string(c.mock.baseURL), "api_key": "sk-second-provider-0123456789"])
        let names = try c.admin.get("/admin/connections").json?["connections"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? []
        #expect(names.contains("second"))
    }

    @Test func aStopOnOneResponderEndsTheOthersStreamWithinASecond() throws {
        let c = try Cluster()
        let chat = try #require(try c.admin.post("/chats", [:]).json?["id"]?.intValue)
        let result = Mutex<(events: [JSON], ended: Date)?>(nil)
        let done = DispatchSemaphore(value: 0)
        let admin = c.admin
        Thread {
            let events = StreamTests().events(admin, "/chats/\(chat)/messages", ["content": "long answer please", "model": "mock-gpt-4o"])
            result.withLock { $0 = (events, Date()) }
            done.signal()
        }.start()
        usleep(1_500_000)
        let onB = c.same(c.admin, on: c.b)
        let asked = Date()
        let stop = try onB.post("/chats/\(chat)/stop", [:])
        #expect(stop.status == 202 && stop.json?["stopping"] == true, "B finds A's stream: \(stop.status) \(stop.text)")
        done.wait()
        let (events, ended) = try #require(result.withLock { $0 })
        #expect(ended.timeIntervalSince(asked) < 1.0, "A's stream ended \(ended.timeIntervalSince(asked)) s after B's stop")
        #expect(events.last?["type"] == "done" && events.last?["message"]?["status"] == "stopped")
        let stored = try #require(try onB.get("/chats/\(chat)").json?["messages"]?.arrayValue?.last)
        #expect(stored["status"] == "stopped")
        #expect((stored["content"]?.stringValue ?? "").hasPrefix("Mock w1"), "the partial answer is kept")
        #expect(try onB.post("/chats/\(chat)/stop", [:]).json?["stopping"] == false, "nothing left to stop")
    }

    @Test func thePerUserStreamLimitCountsBothResponders() throws {
        let c = try Cluster(perUser: 1)
        let first = try #require(try c.admin.post("/chats", [:]).json?["id"]?.intValue)
        let admin = c.admin
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = StreamTests().events(admin, "/chats/\(first)/messages", ["content": "hold the place", "model": "mock-gpt-4o"])
            done.signal()
        }.start()
        usleep(1_000_000)
        let onB = c.same(c.admin, on: c.b)
        let second = try #require(try onB.post("/chats", [:]).json?["id"]?.intValue)
        let refused = try onB.post("/chats/\(second)/messages", ["content": "a second one", "model": "mock-gpt-4o", "stream": false])
        #expect(refused.status == 429 && refused.errorCode == "too_many_streams", "\(refused.status) \(refused.text)")
        // The same chat from B: busy, not a second answer.
        let busy = try onB.post("/chats/\(first)/messages", ["content": "again", "model": "mock-gpt-4o", "stream": false])
        #expect(busy.status == 429 || busy.status == 409)
        #expect(try onB.post("/chats/\(first)/stop", [:]).status == 202)
        done.wait()
        // Once the first ended (and A's heartbeat removed its row), B may start one.
        var status = 0
        let until = Date().addingTimeInterval(3)
        repeat {
            status = try onB.post("/chats/\(second)/messages", ["content": "now", "model": "mock-gpt-4o", "stream": false]).status
            if status != 201 { usleep(200_000) }
        } while status != 201 && Date() < until
        #expect(status == 201)
    }

    /// Five wrong passwords (CRYOTENSOR_LOGIN_MAX_FAILURES) spread over both responders lock the
    /// account on both: the counter is in the database, not in a process.
    @Test func loginLimitsCountAcrossResponders() throws {
        let c = try Cluster()
        try c.a.addUser("target@example.com", password: "the-right-password-123")
        var statuses: [Int] = []
        for attempt in 0..<6 {
            let stack = attempt % 2 == 0 ? c.a : c.b
            statuses.append(
                try Client(base: stack.base).post("/auth/login", ["email": "target@example.com", "password": "wrong-password-000"]).status)
        }
        #expect(statuses.prefix(5).allSatisfy { $0 == 401 } && statuses.last == 429, "\(statuses)")
        let right = try Client(base: c.a.base).post("/auth/login", ["email": "target@example.com", "password": "the-right-password-123"])
        #expect(right.status == 429 && right.header("Retry-After") != nil, "the lock holds on A too: \(right.status)")
    }

    @Test func killingOneResponderLosesNothingAndTheOtherGoesOn() throws {
        let c = try Cluster()
        let chat = try #require(try c.admin.post("/chats", [:]).json?["id"]?.intValue)
        let admin = c.admin
        Thread {
            _ = StreamTests().events(admin, "/chats/\(chat)/messages", ["content": "cut me off", "model": "mock-gpt-4o"])
        }.start()
        // Wait until A has stored part of the answer, then kill it without warning.
        var partial = ""
        let until = Date().addingTimeInterval(10)
        while !partial.contains("w2"), Date() < until {
            usleep(250_000)
            partial = (try? c.sql("SELECT content FROM messages WHERE chat_id = \(chat) AND status = 'streaming'")) ?? ""
        }
        #expect(partial.hasPrefix("Mock w1"), "A stored the answer as it streamed")
        let pid = try #require(c.a.pid("cryotensor"))
        kill(pid, SIGKILL)
        // B goes on serving the same person, directly and through the shared upstream.
        let onB = c.same(c.admin, on: c.b)
        #expect(try onB.get("/chats/\(chat)").status == 200)
        let throughFront = c.same(c.admin, on: c.b)
        let front = Client(base: c.front.base)
        try? FileManager.default.copyItem(atPath: throughFront.cookieJar, toPath: front.cookieJar)
        for _ in 0..<6 { #expect(try front.get("/chats").status == 200, "the upstream skips the dead responder") }
        // B's heartbeat finds A's rows stale and keeps the partial answer, marked interrupted.
        var stored: JSON? = nil
        let deadline = Date().addingTimeInterval(20)
        repeat {
            usleep(500_000)
            stored = try onB.get("/chats/\(chat)").json?["messages"]?.arrayValue?.last
        } while stored?["status"] != "interrupted" && Date() < deadline
        #expect(stored?["status"] == "interrupted")
        #expect((stored?["content"]?.stringValue ?? "").hasPrefix(partial), "what A had stored is kept")
    }

    /// PostgreSQL going away is a clear 503 (never a crash or a hang), and the responders come
    /// back by themselves when it returns: each connection resets before its next statement.
    @Test func aDatabaseOutageIsA503AndTheRespondersRecover() throws {
        let c = try Cluster()
        let onB = c.same(c.admin, on: c.b)
        #expect(try onB.get("/chats").status == 200)
        try c.postgres.stopServer()
        for client in [c.admin, onB] {
            let down = try client.get("/chats")
            #expect(down.status == 503, "\(down.status) \(down.text)")
            #expect(down.json?["error"]?["code"] != nil && !down.text.contains("postgresql://"))
        }
        #expect(try Client(base: c.a.base).get("/health").status == 200, "liveness does not need the database")
        try c.postgres.restartServer()
        for client in [c.admin, onB] {
            var status = 0
            let until = Date().addingTimeInterval(10)
            repeat {
                status = try client.get("/chats").status
                if status != 200 { usleep(200_000) }
            } while status != 200 && Date() < until
            #expect(status == 200, "the responder serves again without a restart")
        }
        #expect(c.a.pid("cryotensor").map { kill($0, 0) == 0 } == true, "A is still the same process")
    }

    /// The role and grants docs/deployment.md gives (its SQL block, run as written) are enough to
    /// migrate and serve, and the role can create nothing in `public`.
    @Test func theDocumentedLeastPrivilegeRoleIsEnough() throws {
        let postgres = try PostgresCluster()
        defer { postgres.stop() }
        let doc = try String(contentsOf: projectRoot.appendingPathComponent("docs/deployment.md"), encoding: .utf8)
        let start = try #require(doc.range(of: "```sql\nCREATE ROLE cryotensor"))
        let end = try #require(doc.range(of: "```", range: start.upperBound..<doc.endIndex))
        let sql = String(doc[doc.index(start.lowerBound, offsetBy: 7)..<end.lowerBound])
        let file = NSTemporaryDirectory() + "ct-grants-\(UUID().uuidString.prefix(6)).sql"
        try sql.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let setup = try runCommand("/usr/bin/psql", ["-v", "ON_ERROR_STOP=1", "-q", postgres.url(), "-f", file])
        #expect(setup.status == 0, "the documented SQL runs: \(setup.stderr)")
        let url = "postgresql://cryotensor@/cryotensor?host=\(postgres.directory)"
        let mock = try MockUpstream()
        let stack = try Stack(env: [
            "DATABASE_URL": url, "CONFIG_ENCRYPTION_KEY": ClusterTests.key, "OPENAI_ALLOWED_API_BASE_URLS": mock.baseURL
        ])
        let admin = try stack.signedIn("admin@example.com", admin: true)
        #expect(
            try admin.post(
                "/admin/connections", ["name": "m", "kind": "openai", "base_url": .string(mock.baseURL), "api_key": "sk-m-0123456789abcdef"]
            )
            .status == 201)
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let sent = try admin.post("/chats/\(chat)/messages", ["content": "walrus facts", "model": "mock-gpt-4o", "stream": false])
        #expect(sent.status == 201, "\(sent.status) \(sent.text)")
        #expect(try admin.get("/chats/search?q=walrus").json?["results"]?.arrayValue?.count == 1)
        let tables = try runCommand("/usr/bin/psql", ["-At", url, "-c", "SELECT count(*) FROM pg_tables WHERE schemaname = 'cryotensor'"])
        #expect((Int(tables.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) >= 15, "tables live in the role's schema")
        let intoPublic = try runCommand("/usr/bin/psql", ["-At", url, "-c", "CREATE TABLE public.intruder (x int)"])
        #expect(intoPublic.status != 0, "the role cannot create in public")
        let superuser = try runCommand("/usr/bin/psql", ["-At", url, "-c", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"])
        #expect(superuser.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "f")
    }

    @Test func servingOnPostgreSQLWithoutTheKeyIsRefusedUnlessSingleResponder() throws {
        let postgres = try PostgresCluster()
        defer { postgres.stop() }
        try postgres.createDatabase("lonely")
        var env = ProcessInfo.processInfo.environment
        env["CONFIG_ENCRYPTION_KEY"] = nil
        env["DATABASE_URL"] = postgres.url(database: "lonely")
        let socket = NSTemporaryDirectory() + "ct-lonely-\(UUID().uuidString.prefix(6)).sock"
        let refused = try runCommand(responderBinary, ["serve", "--listen", "unix:" + socket], environment: env)
        #expect(refused.status == 2 && refused.stderr.contains("CONFIG_ENCRYPTION_KEY"))
        #expect(refused.stderr.contains("--single-responder"))
        let check = try runCommand(
            responderBinary, ["check-config"],
            environment: env.merging(["DATABASE_URL": "postgresql://u:Hunter2secret@db.example/x"]) { _, n in n })
        #expect(check.stdout.contains("DATABASE_URL=postgresql://u:***@db.example/x") && !check.stdout.contains("Hunter2"))
    }
}

/// A third nginx whose FastCGI upstream is every given stack's responder socket, with `max_fails`
/// so that a dead responder is skipped (docs/deployment.md, "More than one host").
final class FrontNginx: @unchecked Sendable {
    let dir: URL
    let port: Int
    var child: Child?
    var base: String { "http://127.0.0.1:\(port)/api/v1" }

    init(over stacks: [Stack]) throws {
        guard let first = stacks.first else { throw StackError("no stacks") }
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-front-\(UUID().uuidString.prefix(8))")
        for sub in ["run", "log", "nginx"] {
            try FileManager.default.createDirectory(at: dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        port = freePort()
        let sourceConf = try String(contentsOf: first.dir.appendingPathComponent("nginx/nginx.conf"), encoding: .utf8)
        let sourceApp = try String(contentsOf: first.dir.appendingPathComponent("nginx/cryotensor-app.conf"), encoding: .utf8)
        let servers = stacks.map { "        server unix:\($0.dir.path)/run/cryotensor.sock max_fails=1 fail_timeout=10s;" }
        let upstream = "    upstream cryotensor_responders {\n" + servers.joined(separator: "\n") + "\n    }\n\n    server {"
        let conf = sourceConf.replacingOccurrences(of: first.dir.path, with: dir.path)
            .replacingOccurrences(of: "127.0.0.1:\(first.port)", with: "127.0.0.1:\(port)")
            .replacingOccurrences(of: "    server {", with: upstream)
        let app = sourceApp.replacingOccurrences(of: "unix:\(first.dir.path)/run/cryotensor.sock", with: "cryotensor_responders")
        try conf.write(to: dir.appendingPathComponent("nginx/nginx.conf"), atomically: true, encoding: .utf8)
        try app.write(to: dir.appendingPathComponent("nginx/cryotensor-app.conf"), atomically: true, encoding: .utf8)
        let check = try runCommand("/usr/sbin/nginx", ["-t", "-q", "-c", dir.appendingPathComponent("nginx/nginx.conf").path])
        guard check.status == 0 else { throw StackError("front nginx -t: \(check.stderr)") }
        child = try Child("/usr/sbin/nginx", ["-c", dir.appendingPathComponent("nginx/nginx.conf").path], capture: false)
        let until = Date().addingTimeInterval(15)
        while (try? Client(base: base).get("/health").status) != 200 {
            guard Date() < until else { throw StackError("front nginx did not answer") }
            usleep(100_000)
        }
    }

    func stop() {
        child?.signal(SIGQUIT)
        _ = child?.wait()
        child = nil
        try? FileManager.default.removeItem(at: dir)
    }
}
