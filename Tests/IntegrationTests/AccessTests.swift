import Foundation
import Support
import Testing

@Suite("Admin access, input errors and the error envelope", .serialized)
struct AccessTests {
    let stack: Stack
    let admin: Client
    let user: Client

    init() throws {
        stack = try Stack(env: ["CRYOTENSOR_MAX_BODY_MB": "1"])
        let adminPassword = try stack.addUser("root@example.com", admin: true)
        let userPassword = try stack.addUser("user@example.com")
        admin = try stack.login("root@example.com", adminPassword)
        user = try stack.login("user@example.com", userPassword)
    }

    static let adminRoutes: [(String, String)] = [
        ("GET", "/admin/status"), ("GET", "/admin/users"), ("POST", "/admin/users"),
        ("PATCH", "/admin/users/1"), ("DELETE", "/admin/users/1")
    ]

    @Test func anonymousGets401AndUserGets403OnEveryAdminRoute() throws {
        for (method, path) in Self.adminRoutes {
            let body = method == "GET" || method == "DELETE" ? nil : Data(#"{"email":"x@example.com"}"#.utf8)
            let anonymous = try Client(base: stack.base).request(method, path, body: body)
            #expect(anonymous.status == 401, "\(method) \(path)")
            #expect(anonymous.errorCode == "unauthorized")
            let plain = try user.request(method, path, body: body)
            #expect(plain.status == 403, "\(method) \(path)")
            #expect(plain.errorCode == "forbidden")
        }
        // The admin account still exists after the user's attempts.
        #expect(try admin.get("/admin/users").json?["users"]?.arrayValue?.count == 2)
    }

    @Test func malformedJSONWrongTypeAndUnknownField() throws {
        let bad = try admin.request("POST", "/admin/users", body: Data("{\"email\": ".utf8))
        #expect(bad.status == 400 && bad.errorCode == "invalid_json")
        let wrongType = try admin.post("/admin/users", ["email": 42])
        #expect(wrongType.status == 400 && wrongType.errorCode == "invalid_field")
        #expect(wrongType.json?["error"]?["field"]?.stringValue == "email")
        let unknown = try admin.post("/admin/users", ["email": "n@example.com", "rolee": "admin"])
        #expect(unknown.status == 400 && unknown.json?["error"]?["field"]?.stringValue == "rolee")
        let notJSON = try admin.request(
            "POST", "/admin/users", body: Data("email=x".utf8), contentType: "application/x-www-form-urlencoded")
        #expect(notJSON.status == 415)
        // Nothing was created by any of them.
        #expect(try admin.get("/admin/users").json?["users"]?.arrayValue?.count == 2)
    }

    @Test func oversizedBodiesGet413InTheEnvelope() throws {
        // Over the responder's limit (1 MiB here) but under nginx's (10 MiB).
        let big = try admin.request("POST", "/admin/users", body: Data(repeating: 0x20, count: 2 << 20))
        #expect(big.status == 413 && big.errorCode == "payload_too_large")
        // Over nginx's limit: nginx answers, in the same envelope.
        let huge = try admin.request("POST", "/admin/users", body: Data(repeating: 0x20, count: 11 << 20))
        #expect(huge.status == 413 && huge.errorCode == "payload_too_large")
    }

    @Test func unknownRouteAndWrongMethod() throws {
        let missing = try admin.get("/no/such/thing")
        #expect(missing.status == 404 && missing.errorCode == "not_found")
        let wrong = try admin.request("PUT", "/health", body: Data("{}".utf8))
        #expect(wrong.status == 405 && wrong.errorCode == "method_not_allowed")
        #expect(wrong.header("Allow") == "GET")
    }

    @Test func healthSaysOkAndNothingMore() throws {
        let r = try Client(base: stack.base).get("/health")
        #expect(r.status == 200)
        #expect(r.json == ["status": "ok"])
        #expect(r.header("X-Request-Id")?.count == 32)
        #expect(r.header("Content-Security-Policy")?.contains("default-src 'self'") == true)
        #expect(r.header("X-Content-Type-Options") == "nosniff")
        #expect(r.header("Server") == "nginx")
    }

    @Test func adminManagesUsers() throws {
        let created = try admin.post("/admin/users", ["email": "new@example.com"])
        #expect(created.status == 201)
        let password = try #require(created.json?["password"]?.stringValue)
        let id = try #require(created.json?["user"]?["id"]?.intValue)
        #expect(try stack.login("new@example.com", password).get("/auth/me").status == 200)
        #expect(try admin.post("/admin/users", ["email": "new@example.com"]).errorCode == "email_taken")

        let promoted = try admin.patch("/admin/users/\(id)", ["role": "admin"])
        #expect(promoted.json?["user"]?["role"]?.stringValue == "admin")
        let disabled = try admin.patch("/admin/users/\(id)", ["disabled": true])
        #expect(disabled.json?["user"]?["disabled"]?.boolValue == true)
        #expect(try Client(base: stack.base).post("/auth/login", ["email": "new@example.com", "password": .string(password)]).status == 401)
        #expect(try admin.delete("/admin/users/\(id)").status == 204)
        #expect(try admin.delete("/admin/users/\(id)").status == 404)
        #expect(try admin.patch("/admin/users/999999", ["role": "user"]).status == 404)
    }

    @Test func lastAdminCannotBeRemoved() throws {
        let users = try admin.get("/admin/users").json?["users"]?.arrayValue ?? []
        let rootID = try #require(users.first { $0["email"]?.stringValue == "root@example.com" }?["id"]?.intValue)
        let demote = try admin.patch("/admin/users/\(rootID)", ["role": "user"])
        #expect(demote.status == 409 && demote.errorCode == "last_admin")
        #expect(try admin.delete("/admin/users/\(rootID)").errorCode == "last_admin")
        #expect(try admin.get("/auth/me").json?["user"]?["role"]?.stringValue == "admin")
    }

    @Test func statusReportsStorageAndHealth() throws {
        let status = try #require(try admin.get("/admin/status").json)
        #expect(status["secrets_storage"]?.stringValue == "memory")
        #expect(status["encryption"]?["transcripts"]?.stringValue == "plaintext")
        #expect(status["redis"]?["status"]?.stringValue == "ok")
        if stack.engine == .sqlite {
            #expect(status["sqlite"]?["journal_mode"]?.stringValue == "wal")
        } else {
            #expect((status["sqlite"] ?? .null) == .null)
        }
        #expect(status["database"]?["engine"]?.stringValue == stack.engine.rawValue)
        #expect(status["database"]?["status"]?.stringValue == "ok")
        #expect(status["database"]?["schema_version"]?.intValue ?? 0 >= 8)
        #expect(status["version"]?.stringValue?.isEmpty == false)
    }
}
