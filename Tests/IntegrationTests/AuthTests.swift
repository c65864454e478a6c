import Foundation
import Support
import Testing

@Suite("Accounts, sessions and tokens through nginx", .serialized)
struct AuthTests {
    let stack: Stack
    let adminPassword: String

    init() throws {
        stack = try Stack(env: ["CRYOTENSOR_LOGIN_MAX_FAILURES": "3"])
        adminPassword = try stack.addUser("admin@example.com", admin: true)
    }

    @Test func loginMeLogout() throws {
        let client = try stack.login("admin@example.com", adminPassword)
        let me = try client.get("/auth/me")
        #expect(me.status == 200)
        #expect(me.json?["user"]?["email"]?.stringValue == "admin@example.com")
        #expect(me.json?["user"]?["role"]?.stringValue == "admin")
        #expect(me.json?["user"]?["password_hash"] == nil)

        let out = try client.request("POST", "/auth/logout")
        #expect(out.status == 204)
        #expect(try client.get("/auth/me").status == 401)
    }

    @Test func sessionCookieAttributes() throws {
        let client = Client(base: stack.base)
        let r = try client.post("/auth/login", ["email": "admin@example.com", "password": .string(adminPassword)])
        #expect(r.status == 200)
        let cookie = try #require(r.header("Set-Cookie"))
        #expect(cookie.hasPrefix("ct_session="))
        #expect(cookie.contains("HttpOnly"))
        #expect(cookie.contains("SameSite=Strict"))
        // Plain http on 127.0.0.1: the browser would drop a Secure cookie, so none is set here ...
        #expect(!cookie.contains("Secure"))
        // ... but any other host gets Secure.
        let other = try Client(base: stack.base).post(
            "/auth/login", ["email": "admin@example.com", "password": .string(adminPassword)],
            headers: ["Host": "chat.example.org"])
        #expect(other.header("Set-Cookie")?.contains("; Secure") == true)
    }

    @Test func wrongPasswordAndUnknownUserLookTheSame() throws {
        let a = try Client(base: stack.base).post("/auth/login", ["email": "admin@example.com", "password": "nope-nope-nope"])
        let b = try Client(base: stack.base).post("/auth/login", ["email": "ghost@example.com", "password": "nope-nope-nope"])
        #expect(a.status == 401 && b.status == 401)
        #expect(a.errorCode == "invalid_credentials" && b.errorCode == "invalid_credentials")
        #expect(a.json?["error"]?["message"] == b.json?["error"]?["message"])
    }

    @Test func cookieRequestWithoutCSRFIsRefused() throws {
        let client = try stack.login("admin@example.com", adminPassword)
        let token = client.csrf
        client.csrf = nil
        let refused = try client.post("/tokens", ["name": "x"])
        #expect(refused.status == 403)
        #expect(refused.errorCode == "csrf_failed")
        let wrong = try client.post("/tokens", ["name": "x"], headers: ["X-CSRF-Token": "forged"])
        #expect(wrong.status == 403)
        client.csrf = token
        #expect(try client.post("/tokens", ["name": "x"]).status == 201)
        // Reads need no CSRF token.
        client.csrf = nil
        #expect(try client.get("/tokens").status == 200)
    }

    @Test func tokenAuthAndRevocation() throws {
        let session = try stack.login("admin@example.com", adminPassword)
        let created = try session.post("/tokens", ["name": "ci"])
        #expect(created.status == 201)
        let token = try #require(created.json?["token"]?.stringValue)
        #expect(token.hasPrefix("ct_"))
        let id = try #require(created.json?["id"]?.intValue)

        let api = Client(base: stack.base)
        api.bearer = token
        #expect(try api.get("/auth/me").json?["auth"]?.stringValue == "token")
        #expect(try api.get("/admin/status").status == 200)
        // Token-authenticated writes need no CSRF header (no ambient credential).
        #expect(try api.post("/tokens", ["name": "from-token"]).status == 201)

        // Listing shows the token without its secret.
        let list = try session.get("/tokens")
        #expect(!list.body.contains(token))
        #expect(list.json?["tokens"]?.arrayValue?.contains { $0["id"]?.intValue == id } == true)

        #expect(try session.delete("/tokens/\(id)").status == 204)
        let after = try api.get("/auth/me")
        #expect(after.status == 401)
        #expect(after.errorCode == "invalid_token")
    }

    @Test func cliTokenCreatePrintsTokenAlone() throws {
        let r = try stack.cli(["token", "create", "--user", "admin@example.com"])
        #expect(r.status == 0)
        let token = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("ct_") && !token.contains(" ") && r.stdout.split(separator: "\n").count == 1)
        let api = Client(base: stack.base)
        api.bearer = token
        #expect(try api.get("/auth/me").status == 200)
        #expect(try stack.cli(["token", "create", "--user", "nobody@example.com"]).status != 0)
    }

    @Test func cliUserAddGeneratesPasswordWhenNoneGiven() throws {
        let r = try stack.cli(["user", "add", "gen@example.com"], stdin: "")
        #expect(r.status == 0)
        let password = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(password.count >= 16)
        #expect(try stack.login("gen@example.com", password).get("/auth/me").json?["user"]?["role"]?.stringValue == "user")
        #expect(try stack.cli(["user", "add", "gen@example.com"], stdin: "another-long-password\n").status != 0)
    }

    @Test func anotherUsersTokenIsNotFound() throws {
        let alicePassword = try stack.addUser("alice@example.com")
        let bobPassword = try stack.addUser("bob@example.com")
        let alice = try stack.login("alice@example.com", alicePassword)
        let bob = try stack.login("bob@example.com", bobPassword)
        let id = try #require(try alice.post("/tokens", ["name": "alice"]).json?["id"]?.intValue)
        #expect(try bob.delete("/tokens/\(id)").status == 404)
        #expect(try bob.get("/tokens").json?["tokens"]?.arrayValue?.isEmpty == true)
        #expect(try alice.get("/tokens").json?["tokens"]?.arrayValue?.count == 1)
    }

    @Test func loginIsRateLimitedPerAccount() throws {
        let password = try stack.addUser("target@example.com")
        for _ in 0..<3 {
            #expect(
                try Client(base: stack.base).post("/auth/login", ["email": "target@example.com", "password": "wrong-wrong-wrong"]).status
                    == 401)
        }
        let limited = try Client(base: stack.base).post("/auth/login", ["email": "target@example.com", "password": .string(password)])
        #expect(limited.status == 429)
        #expect(limited.errorCode == "rate_limited")
        #expect(Int(limited.header("Retry-After") ?? "") ?? 0 > 0)
        // Other accounts are unaffected.
        #expect(try stack.login("admin@example.com", adminPassword).get("/auth/me").status == 200)
    }
}
