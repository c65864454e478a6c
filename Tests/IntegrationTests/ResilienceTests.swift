import Foundation
import Support
import Testing

@Suite("Redis outages, spawn-fcgi and graceful shutdown", .serialized)
struct ResilienceTests {
    @Test func redisStoppedMidRunThenRecoversWithoutRestart() throws {
        let stack = try Stack()
        let password = try stack.addUser("ops@example.com", admin: true)
        let admin = try stack.login("ops@example.com", password)
        #expect(try admin.get("/admin/status").json?["redis"]?["status"]?.stringValue == "ok")
        let responderPID = stack.pid("cryotensor")

        try stack.stackCommand("redis-stop")
        // Requests keep working from SQLite, including new logins and rate-limit counting.
        #expect(try admin.get("/auth/me").status == 200)
        let down = try admin.get("/admin/status")
        #expect(down.status == 200)
        #expect(down.json?["redis"]?["status"]?.stringValue == "down")
        #expect(down.json?["redis"]?["degraded"]?.boolValue == true)
        let second = try stack.login("ops@example.com", password)
        #expect(try second.get("/auth/me").status == 200)
        #expect(
            try Client(base: stack.base).post("/auth/login", ["email": "ops@example.com", "password": "wrong-wrong-wrong"]).status == 401)

        try stack.stackCommand("redis-start")
        // The responder reconnects on its own (retry interval 1 s).
        var recovered = false
        for _ in 0..<40 where !recovered {
            usleep(250_000)
            recovered = try admin.get("/admin/status").json?["redis"]?["status"]?.stringValue == "ok"
        }
        #expect(recovered)
        #expect(stack.pid("cryotensor") == responderPID)
        #expect(stack.log("cryotensor.log").contains("\"event\":\"redis_unavailable\""))
    }

    @Test func servesWithoutRedisConfigured() throws {
        let stack = try Stack(redis: false)
        let password = try stack.addUser("solo@example.com", admin: true)
        let status = try stack.login("solo@example.com", password).get("/admin/status").json
        #expect(status?["redis"]?["status"]?.stringValue == "not_configured")
    }

    @Test func spawnFCGIServesThroughNginx() throws {
        let stack = try Stack(spawnFCGI: true)
        let password = try stack.addUser("shared@example.com", admin: true)
        #expect(try Client(base: stack.base).get("/health").json == ["status": "ok"])
        let admin = try stack.login("shared@example.com", password)
        #expect(try admin.get("/admin/status").status == 200)
        #expect(stack.log("cryotensor.log").contains("\"listen\":\"fd 0\""))
    }

    /// A request whose body is still arriving when SIGTERM comes must be answered; then the
    /// process exits 0. cgi-fcgi (libfcgi's own client) talks FastCGI to the socket directly.
    @Test func sigtermLetsInFlightRequestFinish() throws {
        let dir = NSTemporaryDirectory() + "ct-term-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let socket = dir + "/ct.sock"
        var env = ProcessInfo.processInfo.environment
        env["CRYOTENSOR_DB"] = dir + "/db.sqlite"
        env["REDIS_URL"] = nil
        let server = try Child(responderBinary, ["serve", "--listen", "unix:" + socket, "--threads", "2"], environment: env, capture: false)
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(50_000) }

        let body = #"{"email":"slow@example.com","password":"not-the-password"}"#
        let half = body.count / 2
        // The shell sends half the body, waits, then the rest: the request is in flight meanwhile.
        let script = """
            (printf '%s' '\(body.prefix(half))'; sleep 1.5; printf '%s' '\(body.dropFirst(half))') | \
            REQUEST_METHOD=POST REQUEST_URI=/api/v1/auth/login CONTENT_TYPE=application/json CONTENT_LENGTH=\(body.utf8.count) \
            REMOTE_ADDR=127.0.0.1 cgi-fcgi -bind -connect \(socket)
            """
        let client = try Child("/bin/sh", ["-c", script])
        usleep(600_000)
        server.signal(SIGTERM)
        let response = String(decoding: client.readAll().stdout, as: UTF8.self)
        client.wait()
        let exitCode = server.wait()
        #expect(response.hasPrefix("Status: 401"), "got: \(response)")
        #expect(response.contains("invalid_credentials"))
        #expect(exitCode == 0)
        #expect(!FileManager.default.fileExists(atPath: socket))
    }
}
