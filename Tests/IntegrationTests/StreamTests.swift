import Foundation
import Support
import Synchronization
import Testing

/// Many answers at a model's pace, limits, stop and disconnects, through nginx.
@Suite("Streams at a provider's pace: lanes, limits, stop", .serialized)
struct StreamTests {
    struct Setup {
        let mock: MockUpstream
        let stack: Stack
        let admin: Client
    }

    func setUp(delay: Double, chunks: Int, threads: Int = 4, serveArgs: String = "", perUser: Int = 100) throws -> Setup {
        try Self.slowProvider(delay: delay, chunks: chunks, threads: threads, serveArgs: serveArgs, perUser: perUser)
    }

    /// A stack whose connection's provider answers `chunks` deltas `delay` seconds apart; with
    /// `perUser`, the per-user stream limit set to it.
    static func slowProvider(delay: Double, chunks: Int, threads: Int = 4, serveArgs: String = "", perUser: Int? = nil) throws -> Setup {
        let mock = try MockUpstream(["--delay", String(delay), "--chunks", String(chunks)])
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": mock.baseURL, "CRYOTENSOR_SERVE_ARGS": serveArgs], threads: threads)
        let admin = try stack.signedIn("admin@example.com", admin: true)
        #expect(
            try admin.post(
                "/admin/connections",
                [
                    "name": "slow", "kind": "openai", "base_url": .string(mock.baseURL),
                    "api_key": "sk-slow-provider-0123456789"
                ]
            ).status == 201)
        if let perUser {
            #expect(try admin.patch("/admin/config", ["max_streams_per_user": .number(Double(perUser))]).status == 200)
        }
        return Setup(mock: mock, stack: stack, admin: admin)
    }

    /// Runs `body` on `count` threads at once (not a thread pool: every one must really wait).
    func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread {
                body(index); group.leave()
            }.start()
        }
        group.wait()
    }

    func events(_ client: Client, _ path: String, _ body: JSON) -> [JSON] {
        ((try? client.streamEvents(path, body)) ?? []).compactMap { try? JSON.parse($0.data) }
    }

    @Test func sixtyFourSlowStreamsRunSideBySideWhileHealthAndLoginAnswer() throws {
        // 8 deltas 0.25 s apart: 2 s per answer; two accepting threads only.
        let s = try setUp(delay: 0.25, chunks: 8, threads: 2)
        let chats = try (0..<32).map { _ in try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue) }
        let outcomes = Mutex<[String]>([])
        let probes = Mutex<[Double]>([])
        let started = Date()
        let admin = s.admin
        let base = s.stack.base
        concurrently(65) { index in
            if index == 64 {
                // While the streams run: health checks and a login answer at once.
                usleep(500_000)
                for _ in 0..<5 {
                    let t = Date()
                    let ok = (try? Client(base: base).get("/health").status) == 200
                    probes.withLock { $0.append(ok ? Date().timeIntervalSince(t) : 99) }
                    usleep(100_000)
                }
                let t = Date()
                let login = try? Client(base: base).post("/auth/login", ["email": "admin@example.com", "password": "wrong-password-0"])
                probes.withLock { $0.append(login?.status == 401 ? Date().timeIntervalSince(t) : 99) }
                return
            }
            let result: [JSON]
            if index < 32 {
                result = events(admin, "/chats/\(chats[index])/messages", ["content": "hello", "model": "mock-gpt-4o"])
            } else {
                result = events(
                    admin, "/chat/completions",
                    [
                        "model": "mock-gpt-4o", "stream": true,
                        "messages": [
                            [
                                "role": "user",
                                "content": "hi"
                            ]
                        ]
                    ])
            }
            let last = result.last
            let outcome = last?["type"]?.stringValue ?? (last?["choices"] != nil ? "chunk" : "none")
            outcomes.withLock { $0.append(outcome) }
        }
        let wall = Date().timeIntervalSince(started)
        let all = outcomes.withLock { $0 }
        #expect(all.filter { $0 == "done" }.count == 32, "stored chats: \(all)")
        #expect(all.filter { $0 == "chunk" }.count == 32, "completions: \(all)")
        #expect(wall < 8, "64 answers of 2 s each took \(wall) s: they queued instead of running side by side (2 threads: 64 s)")
        let worst = probes.withLock { $0 }.max() ?? 99
        #expect(worst < 2.0, "health or login waited \(worst) s behind the streams")
        for chat in chats.prefix(4) {
            #expect(try s.admin.get("/chats/\(chat)").json?["messages"]?.arrayValue?.last?["status"] == "complete")
        }
    }

    @Test func aUserPastTheLimitGets429AndTheServicePastItsCapGets503() throws {
        let s = try setUp(delay: 0.25, chunks: 12, serveArgs: "--max-streams 3", perUser: 2)
        let chats = try (0..<3).map { _ in try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue) }
        let admin = s.admin
        // Bob is made before the streams start: the CLI and a login (scrypt) take part of a 3 s answer.
        _ = try s.stack.addUser("bob@example.com", password: "bob-password-12345")
        let bob = try s.stack.login("bob@example.com", "bob-password-12345")
        let bobChat = try #require(try bob.post("/chats", [:]).json?["id"]?.intValue)
        let done = DispatchGroup()
        for index in 0..<2 {
            done.enter()
            Thread {
                _ = self.events(
                    admin, "/chats/\(chats[index])/messages",
                    [
                        "content": "x",
                        "model": "mock-gpt-4o"
                    ]);
                done.leave()
            }.start()
        }
        usleep(700_000)
        let third = try admin.post("/chats/\(chats[2])/messages", ["content": "x", "model": "mock-gpt-4o"])
        #expect(third.status == 429 && third.errorCode == "too_many_streams" && third.header("Retry-After") != nil)
        #expect(try admin.get("/chats/\(chats[2])").json?["messages"]?.arrayValue?.isEmpty == true, "nothing of a refused turn is stored")
        // The same chat twice at once is refused too.
        let again = try admin.post("/chats/\(chats[0])/messages", ["content": "x", "model": "mock-gpt-4o"])
        #expect(again.status == 429 || again.status == 409)

        // Another user fills the service's last slot; the next long request is 503 busy, in JSON.
        done.enter()
        Thread {
            _ = self.events(bob, "/chats/\(bobChat)/messages", ["content": "x", "model": "mock-gpt-4o"]); done.leave()
        }.start()
        usleep(500_000)
        let busy = try bob.post("/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]]])
        #expect(busy.status == 503 && busy.errorCode == "busy" && busy.header("Retry-After") != nil, "\(busy.status) \(busy.text)")
        #expect(busy.header("Content-Type")?.hasPrefix("application/json") == true)
        #expect(try bob.get("/health").status == 200, "short requests still answer at capacity")
        done.wait()
        #expect(try bob.post("/chat/completions", ["model": "mock-gpt-4o", "messages": [["role": "user", "content": "hi"]]]).status == 200)
    }

    @Test func stopFromAnotherConnectionEndsTheAnswerWithinASecond() throws {
        // 40 deltas 0.25 s apart: 10 s if nobody stops it.
        let s = try setUp(delay: 0.25, chunks: 40)
        let chat = try #require(try s.admin.post("/chats", [:]).json?["id"]?.intValue)
        let admin = s.admin
        let result = Mutex<(events: [JSON], ended: Date)?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let events = self.events(admin, "/chats/\(chat)/messages", ["content": "long answer please", "model": "mock-gpt-4o"])
            result.withLock { $0 = (events, Date()) }
            done.signal()
        }.start()
        usleep(1_500_000)
        _ = try s.stack.addUser("eve@example.com", password: "eve-password-12345")
        let eve = try s.stack.login("eve@example.com", "eve-password-12345")
        #expect(try eve.post("/chats/\(chat)/stop", [:]).status == 404, "another user cannot stop it")
        let other = try s.stack.login("admin@example.com", try adminPassword(s))
        let asked = Date()
        let stop = try other.post("/chats/\(chat)/stop", [:])
        #expect(stop.status == 202 && stop.json?["stopping"] == true)
        done.wait()
        let (events, ended) = try #require(result.withLock { $0 })
        #expect(ended.timeIntervalSince(asked) < 1.0, "the stream ended \(ended.timeIntervalSince(asked)) s after the stop")
        let last = try #require(events.last)
        #expect(last["type"] == "done" && last["message"]?["status"] == "stopped")
        let stored = try #require(try other.get("/chats/\(chat)").json?["messages"]?.arrayValue?.last)
        #expect(stored["status"] == "stopped")
        let text = stored["content"]?.stringValue ?? ""
        #expect(text.hasPrefix("Mock w1") && !text.contains("w39"), "the partial answer is kept: \(text)")
        #expect(try other.post("/chats/\(chat)/stop", [:]).json?["stopping"] == false, "nothing left to stop")
    }

    func adminPassword(_ s: Setup) throws -> String {
        // A second session of the same user: reset to a known password first.
        let id = try #require(try s.admin.get("/auth/me").json?["user"]?["id"]?.intValue)
        let password = "admin-second-session-1"
        #expect(try s.admin.patch("/admin/users/\(id)", ["password": .string(password)]).status == 200)
        return password
    }

    @Test func aClientThatHangsUpEndsTheUpstreamCall() throws {
        let s = try setUp(delay: 0.25, chunks: 40)
        var args = [
            "-sN", "--http1.1", "-X", "POST", "-H", "Content-Type: application/json", "--max-time", "1",
            "--data-binary", #"{"model":"mock-gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}"#
        ]
        let token = try #require(try s.admin.post("/tokens", ["name": "sdk"]).json?["token"]?.stringValue)
        args += ["-H", "Authorization: Bearer \(token)", s.stack.base + "/chat/completions"]
        _ = try runCommand("/usr/bin/curl", args)  // gives up after 1 s of a 10 s answer
        var aborted = 0
        for _ in 0..<30 where aborted == 0 {
            usleep(100_000)
            let r = try runCommand("/usr/bin/curl", ["-s", "http://127.0.0.1:\(s.mock.port)/__aborted"])
            aborted = (try? JSON.parse(r.stdout))?["aborted"]?.intValue ?? 0
        }
        #expect(aborted == 1, "the provider kept streaming to nobody")
    }
}

@Suite("Faults while people chat", .serialized)
struct FaultTests {
    @Test func aKilledResponderKeepsWhatThePersonHadSeen() throws {
        // 40 deltas 0.25 s apart: 10 s of answer; the responder is killed a few seconds in.
        let setup = try StreamTests.slowProvider(delay: 0.25, chunks: 40)
        defer { withExtendedLifetime(setup) {} }  // the mock provider lives as long as the test
        let (stack, admin) = (setup.stack, setup.admin)
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let received = Mutex<[(at: Double, data: String)]?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            let events = try? admin.streamEvents("/chats/\(chat)/messages", ["content": "tell me a long story", "model": "mock-gpt-4o"])
            received.withLock { $0 = events }
            done.signal()
        }.start()
        // Wait until the stored partial answer has reached the 8th delta, then kill -9.
        let query = "SELECT content FROM messages WHERE role = 'assistant' AND status = 'streaming'"
        var stored = ""
        for _ in 0..<100 where !stored.contains(" w7") {
            usleep(100_000)
            stored = (try? stack.sql(query)) ?? ""
        }
        #expect(stored.contains(" w7"), "the partial answer was not stored while it streamed")
        let pid = try #require(stack.pid("cryotensor"))
        kill(pid, SIGKILL)
        done.wait()
        let events = received.withLock { $0 } ?? []
        let deltas = events.compactMap { try? JSON.parse($0.data) }.filter { $0["type"] == "delta" }.compactMap { $0["text"]?.stringValue }
        #expect(deltas.count >= 8 && deltas.count < 40)
        #expect(!events.contains { $0.data.contains("\"done\"") }, "the stream did not finish normally")

        try stack.restartResponder()
        // The session is in the database: the same browser goes on after the restart. On SQLite the
        // restart marks the answer at once; on PostgreSQL another responder may hold answers, so the
        // dead one's are marked when its heartbeat has been silent for 10 s (StreamCluster).
        var answer: JSON = [:]
        let until = Date().addingTimeInterval(stack.engine == .postgresql ? 20 : 0)
        repeat {
            answer = try #require(try admin.get("/chats/\(chat)").json?["messages"]?.arrayValue?.last)
            if answer["status"] != "interrupted" { usleep(500_000) }
        } while answer["status"] != "interrupted" && Date() < until
        #expect(answer["role"] == "assistant" && answer["status"] == "interrupted", "\(answer)")
        // Everything the person had seen, except at most the last flush interval (0.25 s: one delta here).
        let seen = deltas.dropLast().joined()
        #expect((answer["content"]?.stringValue ?? "").hasPrefix(seen), "stored \(answer["content"] ?? .null), seen \(seen)")
    }
}

@Suite("scripts/run brings a dead responder back", .serialized)
struct RunScriptTests {
    @Test func aKilledResponderIsStartedAgain() throws {
        let dir = NSTemporaryDirectory() + "ct-run-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = freePort()
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("CRYOTENSOR_") || key == "REDIS_URL" { env[key] = nil }
        env["CRYOTENSOR_BIN"] = responderBinary
        env["CRYOTENSOR_VAR"] = dir
        env["PORT"] = String(port)
        let run = try Child(projectRoot.appendingPathComponent("scripts/run").path, [], environment: env)
        defer { run.signal(SIGINT); _ = run.readAll(); run.wait() }
        let base = "http://127.0.0.1:\(port)/api/v1"
        func healthy(within seconds: Double) -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if (try? Client(base: base).get("/health").status) == 200 { return true }
                usleep(100_000)
            }
            return false
        }
        // Killed only once scripts/run is in its restart loop (after its demo setup, which needs the responder).
        #expect(run.waitForOutput("Press Ctrl-C to stop.", within: 60), "scripts/run did not start")
        #expect(healthy(within: 10), "scripts/run did not start")
        let pid = try #require(
            Int32(
                (try String(contentsOfFile: dir + "/run/cryotensor.pid", encoding: .utf8))
                    .trimmingCharacters(in: .whitespacesAndNewlines)))
        kill(pid, SIGKILL)
        usleep(300_000)
        #expect(healthy(within: 10), "the responder was not started again")
        let log = (try? String(contentsOfFile: dir + "/log/cryotensor.log", encoding: .utf8)) ?? ""
        #expect(log.contains("responder_exited"), "the restart is logged")
        let pidFile = try String(contentsOfFile: dir + "/run/cryotensor.pid", encoding: .utf8)
        let newPID = Int32(pidFile.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(newPID != nil && newPID != pid)
    }
}
