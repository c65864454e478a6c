import Foundation
import Support
import Testing

/// The shared-host recipe as a user without root: scripts/shared-host, the host's nginx (run as
/// nobody:nogroup here) including the file it writes, and a streamed chat through it.
@Suite("Shared host: spawn-fcgi as a user without root", .serialized)
struct SharedHostTests {
    static let user = "ctshared"

    /// A throwaway unprivileged user in the web server's group (nogroup here).
    func ensureUser() throws -> Bool {
        guard getuid() == 0 else { return false }
        if (try runCommand("/usr/bin/id", [Self.user])).status != 0 {
            let r = try runCommand("/usr/sbin/useradd", ["--create-home", "--groups", "nogroup", Self.user])
            guard r.status == 0 else { throw StackError("useradd: \(r.stderr)") }
        }
        return true
    }

    func asUser(_ args: [String], env: [String: String] = [:]) throws -> CommandResult {
        try runCommand(
            "/usr/sbin/runuser", ["-u", Self.user, "--"] + args,
            environment: ProcessInfo.processInfo.environment.merging(env) { _, n in n })
    }

    @Test func theRecipeServesAStreamedChatAndLogsToAFile() throws {
        guard try ensureUser() else { print("skipped: needs root to create an unprivileged user"); return }
        let home = "/tmp/ct-shared-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        _ = try runCommand("/usr/bin/chown", [Self.user, home])
        defer {
            _ = try? asUser([projectRoot.appendingPathComponent("scripts/shared-host").path, "stop", "--home", home])
            try? FileManager.default.removeItem(atPath: home)
        }
        let script = projectRoot.appendingPathComponent("scripts/shared-host").path
        let mock = try MockUpstream(["--delay", "0.05", "--chunks", "5"])

        // A bad setting: refused at start, and its message lands in the log file.
        try "CRYOTENSOR_DB=\(home)/data/cryotensor.db\nENABLE_SSRF_PROTECTION=perhaps\n".write(
            toFile: home + "/env",
            atomically: true, encoding: .utf8)
        _ = try runCommand("/usr/bin/chown", [Self.user, home + "/env"])
        let bad = try asUser([script, "start", "--home", home, "--web-group", "nogroup", "--bin", responderBinary])
        #expect(bad.status == 2 && bad.stderr.contains("ENABLE_SSRF_PROTECTION"))
        #expect(((try? String(contentsOfFile: home + "/log/cryotensor.log", encoding: .utf8)) ?? "").contains("ENABLE_SSRF_PROTECTION"))

        try "# settings\nCRYOTENSOR_DB=\(home)/data/cryotensor.db\nOPENAI_ALLOWED_API_BASE_URLS=\(mock.baseURL)\n"
            .write(toFile: home + "/env", atomically: true, encoding: .utf8)
        let started = try asUser([script, "start", "--home", home, "--web-group", "nogroup", "--bin", responderBinary])
        #expect(started.status == 0, "\(started.stderr)")
        let pid = try #require(
            Int32(
                (try String(
                    contentsOfFile: home + "/run/cryotensor.pid",
                    encoding: .utf8)).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try runCommand("/usr/bin/stat", ["-c", "%U", "/proc/\(pid)"]).stdout.hasPrefix(Self.user), "runs as the user, not root")

        // The host's nginx, as nobody:nogroup, includes the file the script wrote.
        let port = freePort()
        let conf = home + "/nginx.conf"
        try """
        user nobody nogroup;
        worker_processes 1;
        pid \(home)/nginx.pid;
        error_log \(home)/nginx-error.log;
        daemon off;
        events { worker_connections 256; }
        http {
            include /etc/nginx/mime.types;
            access_log off;
            client_body_temp_path \(home)/nginx-body;
            fastcgi_temp_path \(home)/nginx-fastcgi;
            server {
                listen 127.0.0.1:\(port);
                include \(home)/nginx-cryotensor.conf;
            }
        }
        """.write(toFile: conf, atomically: true, encoding: .utf8)
        let nginx = try Child("/usr/sbin/nginx", ["-c", conf, "-e", home + "/nginx-error.log"], capture: false)
        defer { nginx.signal(SIGQUIT); nginx.wait() }
        let base = "http://127.0.0.1:\(port)/api/v1"
        var healthy = false
        for _ in 0..<100 where !healthy {
            healthy = (try? Client(base: base).get("/health").status) == 200
            if !healthy { usleep(50_000) }
        }
        let nginxLog = (try? String(contentsOfFile: home + "/nginx-error.log", encoding: .utf8)) ?? ""
        #expect(healthy, "nginx did not reach the responder: \(nginxLog)")

        let add = try asUser([responderBinary, "user", "add", "owner@example.com", "--admin", "--env-file", home + "/env"])
        let password = add.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(add.status == 0 && password.count == 20)
        let stack = Client(base: base)
        let login = try stack.post("/auth/login", ["email": "owner@example.com", "password": .string(password)])
        stack.csrf = login.json?["csrf_token"]?.stringValue
        #expect(
            try stack.post(
                "/admin/connections",
                [
                    "name": "m", "kind": "openai", "base_url": .string(mock.baseURL),
                    "api_key": "sk-shared-host-0123456789"
                ]
            ).status == 201)
        let chat = try #require(try stack.post("/chats", [:]).json?["id"]?.intValue)
        let events = try stack.streamEvents(
            "/chats/\(chat)/messages",
            [
                "content": "hi",
                "model": "mock-gpt-4o"
            ]
        ).compactMap { try? JSON.parse($0.data) }
        #expect(events.filter { $0["type"] == "delta" }.count == 5 && events.last?["type"] == "done")
        #expect(
            ((try? String(contentsOfFile: home + "/log/cryotensor.log", encoding: .utf8)) ?? "").contains("\"event\":\"request\""),
            "the responder logs to the file")

        // A responder that dies is started again by the supervisor, and that is logged.
        kill(pid, SIGKILL)
        var back = false
        for _ in 0..<60 where !back {
            usleep(100_000)
            back = (try? Client(base: base).get("/health").status) == 200
        }
        #expect(back, "the supervisor did not restart the responder")
        #expect(((try? String(contentsOfFile: home + "/log/cryotensor.log", encoding: .utf8)) ?? "").contains("responder_exited"))
    }
}
