import Foundation
import Support
import TestSupport
import Testing

/// A real OpenID provider (django-oidc-provider, scripts/oidc-provider) or the tests' own forger
/// (scripts/oidc-forger) on loopback, stopped with the test.
final class IdentityProvider: @unchecked Sendable {
    static let clientSecret = "oidc-test-secret-QzX81vLw0pKd3TnY"
    let child: Child
    let port: Int
    let issuer: String
    let dir: URL

    struct Person {
        let username: String
        let password: String
        let email: String
        let verified: Bool
        let groups: [String]
        var json: JSON {
            [
                "username": .string(username), "password": .string(password), "email": .string(email), "email_verified": .bool(verified),
                "groups": .array(groups.map { .string($0) })
            ]
        }
    }

    /// django-oidc-provider with `people`, its client registered for the stack on `stackPort`.
    init(people: [Person], stackPort: Int, port: Int = freePort(), dir: URL? = nil) throws {
        self.port = port
        self.dir = dir ?? URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("ct-op-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: self.dir, withIntermediateDirectories: true)
        let users = self.dir.appendingPathComponent("users.json")
        try Data(JSON.array(people.map(\.json)).serialized().utf8).write(to: users)
        child = try Child(
            projectRoot.appendingPathComponent("scripts/oidc-provider").path,
            [
                "--dir", self.dir.path, "--port", String(port), "--users", users.path, "--client-secret", Self.clientSecret,
                "--redirect-uri", "http://127.0.0.1:\(stackPort)/api/v1/auth/oidc/callback"
            ])
        issuer = "http://127.0.0.1:\(port)/openid"
        guard child.waitForOutput("ready", within: 90) else { throw StackError("the OpenID provider did not start") }
    }

    /// The forger (scripts/oidc-forger): tokens made as a test asks.
    init(forger: Void) throws {
        port = freePort()
        dir = URL(fileURLWithPath: NSTemporaryDirectory())
        child = try Child(projectRoot.appendingPathComponent("scripts/oidc-forger").path, ["--port", String(port)])
        issuer = "http://127.0.0.1:\(port)"
        guard child.waitForOutput("ready", within: 30) else { throw StackError("the forger did not start") }
    }

    func stop() {
        child.signal(SIGTERM)
        _ = child.wait()
    }

    deinit {
        stop()
        if dir.lastPathComponent.hasPrefix("ct-op-") { try? FileManager.default.removeItem(at: dir) }
    }

    func mode(_ m: String) throws { _ = try runCommand("/usr/bin/curl", ["-s", "\(issuer)/__mode?m=\(m)"]) }
    func stats() throws -> JSON { try JSON.parse(try runCommand("/usr/bin/curl", ["-s", "\(issuer)/__stats"]).stdout) }

    /// The settings a stack needs for this provider.
    func settings(_ stackPort: Int, _ extra: [String: String] = [:]) -> [String: String] {
        [
            "OIDC_ISSUER": issuer, "OIDC_CLIENT_ID": "cryotensor", "OIDC_CLIENT_SECRET": Self.clientSecret,
            "OIDC_REDIRECT_URI": "http://127.0.0.1:\(stackPort)/api/v1/auth/oidc/callback", "OIDC_ALLOW_INSECURE_HTTP_ISSUER": "true"
        ].merging(extra) { _, new in new }
    }
}

/// A browser as far as redirects and cookies go: curl with one cookie jar for every host, following
/// nothing by itself, so each hop can be looked at (and tampered with).
final class Browser: @unchecked Sendable {
    let jar = NSTemporaryDirectory() + "ct-browser-\(UUID().uuidString)"
    deinit { try? FileManager.default.removeItem(atPath: jar) }

    struct Answer {
        let status: Int
        let headers: [(String, String)]
        let body: String
        var location: String? { headers.first { $0.0 == "location" }?.1 }
        var cookies: [String] { headers.filter { $0.0 == "set-cookie" }.map(\.1) }
    }

    func go(_ url: String, form: [(String, String)]? = nil, cookies: Bool = true) throws -> Answer {
        let headerFile = NSTemporaryDirectory() + "ct-bh-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: headerFile) }
        var args = ["-sS", "--http1.1", "-D", headerFile, "--max-time", "60"]
        if cookies { args += ["-b", jar, "-c", jar] }
        for (k, v) in form ?? [] { args += ["--data-urlencode", "\(k)=\(v)"] }
        args.append(url)
        let r = try runCommand("/usr/bin/curl", args)
        guard r.status == 0 else { throw StackError("curl \(url): \(r.stderr)") }
        var status = 0
        var headers: [(String, String)] = []
        for line in ((try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "").components(separatedBy: "\r\n") {
            if line.hasPrefix("HTTP/") {
                status = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
                headers = []
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            }
        }
        return Answer(status: status, headers: headers, body: r.stdout)
    }

    /// From the stack's login link to the provider's redirect back: the callback URL, not yet visited.
    func callbackURL(_ stack: Stack, _ provider: IdentityProvider, _ username: String, _ password: String) throws -> String {
        let start = try go(stack.base + "/auth/oidc/login")
        guard start.status == 302, let authorize = start.location else { throw StackError("login: \(start.status) \(start.body)") }
        var next = try go(authorize)
        if next.status == 302, let location = next.location, location.hasPrefix("/accounts/login") {
            let page = try go("http://127.0.0.1:\(provider.port)" + location)
            guard let token = Self.csrfToken(page.body) else { throw StackError("no csrf token on the provider's page") }
            let nextField = location.components(separatedBy: "next=").last.map { percentDecode($0) } ?? ""
            next = try go(
                "http://127.0.0.1:\(provider.port)" + location,
                form: [("csrfmiddlewaretoken", token), ("username", username), ("password", password), ("next", nextField)])
            guard next.status == 302, let back = next.location else { throw StackError("provider login: \(next.status)") }
            next = try go(back.hasPrefix("/") ? "http://127.0.0.1:\(provider.port)" + back : back)
        }
        guard next.status == 302, let callback = next.location, callback.contains("/auth/oidc/callback") else {
            throw StackError("authorize: \(next.status) \(next.location ?? "") \(next.body.prefix(300))")
        }
        return callback
    }

    /// The whole flow: the stack's final answer (302 to `/` or to `/?login_error=`).
    func signIn(_ stack: Stack, _ provider: IdentityProvider, _ username: String, _ password: String) throws -> Answer {
        try go(try callbackURL(stack, provider, username, password))
    }

    static func csrfToken(_ html: String) -> String? {
        guard let range = html.range(of: "name=\"csrfmiddlewaretoken\" value=\"") else { return nil }
        return String(html[range.upperBound...].prefix { $0 != "\"" })
    }

    /// The signed-in user (GET /auth/me with this browser's cookies), or nil.
    func me(_ stack: Stack) throws -> JSON? {
        let r = try go(stack.base + "/auth/me")
        return r.status == 200 ? (try? JSON.parse(r.body))?["user"] : nil
    }
}

func percentDecode(_ text: String) -> String { text.removingPercentEncoding ?? text }

extension Browser.Answer {
    var loginError: String? {
        guard status == 302, let location, location.hasPrefix("/?login_error=") else { return nil }
        return String(location.dropFirst("/?login_error=".count))
    }
    var signedIn: Bool {
        status == 302 && location == "/" && cookies.contains { $0.hasPrefix("ct_session=") && !$0.hasPrefix("ct_session=;") }
    }
}

/// Why the provider tests cannot run here, or nil: django-oidc-provider and the forger's
/// `cryptography` come from PyPI through scripts/setup.
let oidcProviderMissing: String? = {
    let check = try? runCommand("/usr/bin/env", ["python3", "-c", "import django, oidc_provider, cryptography"])
    return check?.status == 0 ? nil : "Django, django-oidc-provider or cryptography missing: run scripts/setup --debug --browser"
}()

/// Sign-in with an identity provider, end to end through nginx against a real OpenID provider
/// (django-oidc-provider) and, for forgeries, the tests' own forger. Both run on loopback.
@Suite(.serialized, .enabled(if: oidcProviderMissing == nil, Comment(rawValue: oidcProviderMissing ?? "")))
struct OIDCTests {
    static let people: [IdentityProvider.Person] = [
        .init(username: "alice", password: "alice-pw-1", email: "alice@example.com", verified: true, groups: ["ct-admins", "staff"]),
        .init(username: "bob", password: "bob-pw-1", email: "Bob@Example.com", verified: true, groups: ["staff"]),
        .init(username: "carol", password: "carol-pw-1", email: "carol@example.com", verified: true, groups: ["outsiders"]),
        .init(username: "mallory", password: "mallory-pw-1", email: "owner@example.com", verified: false, groups: ["staff", "ct-admins"]),
        .init(username: "owner", password: "owner-pw-1", email: "owner@example.com", verified: true, groups: ["staff"]),
        .init(username: "twin", password: "twin-pw-1", email: "owner@example.com", verified: true, groups: ["staff"])
    ]

    @Test func adminThroughTheGroupUserWithoutItAndAllowedGroups() throws {
        let port = freePort()
        let provider = try IdentityProvider(people: Self.people, stackPort: port)
        let stack = try Stack(
            env: provider.settings(port, ["OIDC_ADMIN_GROUPS": "ct-admins", "OIDC_ALLOWED_GROUPS": "staff,ct-admins"]), port: port)
        let providers = try Client(base: stack.base).get("/auth/providers")
        #expect(providers.json?["password"] == true)
        #expect(providers.json?["oidc"]?["enabled"] == true && providers.json?["oidc"]?["login_url"] == "/api/v1/auth/oidc/login")

        // alice: in ct-admins, so an admin, with a session and the same cookie as a password login.
        let alice = Browser()
        let start = try alice.go(stack.base + "/auth/oidc/login")
        let binding = try #require(start.cookies.first { $0.hasPrefix("ct_oidc=") })
        #expect(binding.contains("HttpOnly") && binding.contains("SameSite=Lax") && binding.contains("Max-Age=600"))
        let authorize = try #require(start.location)
        #expect(authorize.hasPrefix(provider.issuer + "/authorize?"))
        for part in ["code_challenge_method=S256", "code_challenge=", "state=", "nonce=", "response_type=code", "client_id=cryotensor"] {
            #expect(authorize.contains(part), "\(part)")
        }
        let done = try alice.signIn(stack, provider, "alice", "alice-pw-1")
        #expect(done.signedIn, "\(done.status) \(done.location ?? "")")
        #expect(done.cookies.contains { $0.hasPrefix("ct_session=") && $0.contains("HttpOnly") && $0.contains("SameSite=Strict") })
        #expect(done.cookies.contains { $0.hasPrefix("ct_oidc=;") && $0.contains("Max-Age=0") })
        let me = try #require(try alice.me(stack))
        #expect(me["email"] == "alice@example.com" && me["role"] == "admin")
        #expect(try alice.go(stack.base + "/admin/status").status == 200)
        #expect((try JSON.parse(try alice.go(stack.base + "/auth/me").body))["identity_provider"] == true)
        // RP-initiated logout: on to the provider's end-session endpoint, back to this site's root.
        let logout = try alice.go(stack.base + "/auth/oidc/logout")
        #expect(logout.status == 302)
        #expect(logout.location?.hasPrefix(provider.issuer + "/end-session?client_id=cryotensor&") == true)
        #expect(logout.location?.hasSuffix("post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A\(port)%2F") == true)
        #expect(try alice.me(stack) != nil, "the logout redirect ends no session by itself")

        // bob: staff only, so a user; his email is stored in lower case.
        let bob = Browser()
        #expect(try bob.signIn(stack, provider, "bob", "bob-pw-1").signedIn)
        #expect(try bob.me(stack)?["role"] == "user")
        #expect(try bob.me(stack)?["email"] == "bob@example.com")
        #expect(try bob.go(stack.base + "/admin/status").status == 403)

        // carol: in none of OIDC_ALLOWED_GROUPS.
        let carol = Browser()
        let refused = try carol.signIn(stack, provider, "carol", "carol-pw-1")
        #expect(refused.loginError == "not_allowed")
        #expect(!refused.cookies.contains { $0.hasPrefix("ct_session=") && !$0.hasPrefix("ct_session=;") })
        #expect(try carol.me(stack) == nil)

        // The claim's groups became oidc groups with the right members.
        let rows = try stack.sql(
            "SELECT g.name || ':' || g.source || ':' || u.email FROM groups g JOIN group_members m ON m.group_id = g.id "
                + "JOIN users u ON u.id = m.user_id ORDER BY 1"
        ).split(separator: "\n").map(String.init)
        #expect(rows == ["ct-admins:oidc:alice@example.com", "staff:oidc:alice@example.com", "staff:oidc:bob@example.com"])

        // Audit: the creation, the sign-ins by oidc and the refusal.
        let audit = try alice.go(stack.base + "/admin/audit?limit=50")
        let events = (try? JSON.parse(audit.body))?["events"]?.arrayValue ?? []
        let logins = events.filter { $0["action"] == "auth.login" && $0["details"]?["method"] == "oidc" }
        #expect(logins.count == 2)
        #expect(events.contains { $0["action"] == "user.create" && $0["details"]?["source"] == "oidc" })
        #expect(events.contains { $0["action"] == "auth.login_failed" && $0["details"]?["reason"] == "in none of OIDC_ALLOWED_GROUPS" })

        // A disabled account is refused, even with a valid sign-in at the provider.
        let bobID = try #require(try bob.me(stack)?["id"]?.intValue)
        let admin = try stack.signedIn("root@example.com", admin: true)
        #expect(try admin.patch("/admin/users/\(bobID)", ["disabled": true]).status == 200)
        #expect(try Browser().signIn(stack, provider, "bob", "bob-pw-1").loginError == "account_disabled")

        // Roles are re-evaluated at every sign-in: alice leaves ct-admins at the provider.
        provider.stop()
        var changed = Self.people
        changed[0] = .init(username: "alice", password: "alice-pw-1", email: "alice@example.com", verified: true, groups: ["staff"])
        let again = try IdentityProvider(people: changed, stackPort: port, port: provider.port, dir: provider.dir)
        let later = Browser()
        #expect(try later.signIn(stack, again, "alice", "alice-pw-1").signedIn)
        #expect(try later.me(stack)?["role"] == "user")
        let groups = try stack.sql(
            "SELECT g.name FROM groups g JOIN group_members m ON m.group_id = g.id JOIN users u ON u.id = m.user_id "
                + "WHERE u.email = 'alice@example.com'")
        #expect(groups.trimmingCharacters(in: .whitespacesAndNewlines) == "staff")
        // Her session from before sees the new role at once (roles are read per request).
        #expect(try alice.go(stack.base + "/admin/status").status == 403)
    }

    @Test func replayedCodesTamperedStatesAndOtherBrowsersAreRefused() throws {
        let port = freePort()
        let provider = try IdentityProvider(people: Self.people, stackPort: port)
        let stack = try Stack(env: provider.settings(port), port: port)

        // A callback replayed: the state was taken by the first visit.
        let browser = Browser()
        let callback = try browser.callbackURL(stack, provider, "bob", "bob-pw-1")
        #expect(try browser.go(callback).signedIn)
        #expect(try browser.go(callback).loginError == "state_invalid")

        // The same code with a fresh state of this browser: the provider refuses a used code.
        let fresh = try browser.callbackURL(stack, provider, "bob", "bob-pw-1")
        let freshState = try #require(URLComponents(string: fresh)?.queryItems?.first { $0.name == "state" }?.value)
        let oldCode = try #require(URLComponents(string: callback)?.queryItems?.first { $0.name == "code" }?.value)
        let mixed = "\(stack.base)/auth/oidc/callback?code=\(oldCode)&state=\(freshState)"
        #expect(try browser.go(mixed).loginError == "token_invalid")

        // A tampered state.
        let another = try browser.callbackURL(stack, provider, "bob", "bob-pw-1")
        let tampered = another.replacingOccurrences(of: "state=", with: "state=x")
        #expect(try browser.go(tampered).loginError == "state_invalid")

        // A callback taken to another browser (no binding cookie), or with the cookie of another sign-in.
        let stolen = try Browser().callbackURL(stack, provider, "alice", "alice-pw-1")
        let victim = Browser()
        let answer = try victim.go(stolen)
        #expect(answer.loginError == "state_invalid")
        #expect(try victim.me(stack) == nil)
        _ = try victim.go(stack.base + "/auth/oidc/login")  // the victim has a binding cookie of their own
        #expect(try victim.go(try Browser().callbackURL(stack, provider, "alice", "alice-pw-1")).loginError == "state_invalid")

        // Two states in one callback, an error from the provider, and no state at all.
        let twice = try browser.callbackURL(stack, provider, "bob", "bob-pw-1")
        #expect(try browser.go(twice + "&state=abc").loginError == "state_invalid")
        #expect(try browser.go(stack.base + "/auth/oidc/callback?code=abc").loginError == "state_invalid")
        let denied = try browser.go(stack.base + "/auth/oidc/login")
        let deniedState = try #require(URLComponents(string: denied.location ?? "")?.queryItems?.first { $0.name == "state" }?.value)
        #expect(try browser.go(stack.base + "/auth/oidc/callback?error=access_denied&state=\(deniedState)").loginError == "provider_denied")

        // Nothing in a request steers where it goes: login_error values are fixed, redirects stay on this site.
        let odd = try browser.go(stack.base + "/auth/oidc/callback?state=%0d%0aLocation:%20https://evil.example&code=1")
        #expect(odd.location == "/?login_error=state_invalid")
        #expect(
            try browser.go(stack.base + "/auth/oidc/callback?login_error=https://evil.example").location == "/?login_error=state_invalid")
        // Nothing made a session for anyone but bob's first callback.
        let sessions = try stack.sql("SELECT COUNT(*) FROM sessions")
        #expect(sessions.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test func forgedIDTokensAreRefused() throws {
        let forger = try IdentityProvider(forger: ())
        let port = freePort()
        let stack = try Stack(env: forger.settings(port, ["OIDC_ADMIN_GROUPS": "ct-admins"]), port: port)
        func attempt(_ mode: String) throws -> Browser.Answer {
            try forger.mode(mode)
            let browser = Browser()
            let start = try browser.go(stack.base + "/auth/oidc/login")
            let back = try browser.go(try #require(start.location))
            return try browser.go(try #require(back.location))
        }
        for mode in ["other-key", "none", "hs256", "expired", "wrong-nonce", "wrong-aud", "wrong-iss"] {
            let answer = try attempt(mode)
            #expect(answer.loginError == "token_invalid", "\(mode): \(answer.location ?? "")")
            #expect(!answer.signedIn, "\(mode)")
        }
        #expect(try attempt("es256").signedIn)
        #expect(try attempt("good").signedIn)
        // Tokens naming unknown kids fetch the key set again at most once a minute.
        let before = try forger.stats()["jwks"]?.intValue ?? 0
        for _ in 0..<4 { #expect(try attempt("unknown-kid").loginError == "token_invalid") }
        let after = try forger.stats()["jwks"]?.intValue ?? 0
        #expect(after - before <= 1, "\(before) -> \(after)")
        // The refusals are in the trail with their reason, never with a token.
        let failures = try stack.sql("SELECT details FROM audit_events WHERE action = 'auth.login_failed'")
        for reason in [
            "signature does not verify", "algorithm none", "algorithm HS256", "token expired", "nonce does not match", "aud does not"
        ] {
            #expect(failures.contains(reason), "\(reason)")
        }
        #expect(!failures.contains("eyJ"))
    }

    /// Seeded fuzz of the callback's query through nginx, with and without a binding cookie and a
    /// real pending state: every answer is a redirect to `/?login_error=` with a known code, no
    /// session is ever made, and the service lives.
    @Test func fuzzedCallbacksOnlyEverRedirectWithAKnownCode() throws {
        let forger = try IdentityProvider(forger: ())
        let port = freePort()
        let stack = try Stack(env: forger.settings(port), port: port)
        let pid = try #require(stack.pid("cryotensor"))
        var rng = SeededGenerator(state: 0xCA11_BAC4)
        let names = ["code", "state", "iss", "error", "error_description", "session_state", "login_error", "redirect", "", "state[]", "%00"]
        let values = [
            "", "x", "%0d%0aLocation:%20https://evil.example", "https://evil.example/", "%00", "%", "%zz", "%C3%28", "..%2f..%2f",
            String(repeating: "A", count: 5000), "access_denied", "http://127.0.0.1:\(forger.port)", "%2F%2Fevil.example", "%E2%80%AE"
        ]
        let known: Set<String> = [
            "state_invalid", "token_invalid", "provider_denied", "provider_unavailable", "rate_limited", "internal_error"
        ]
        let browser = Browser()
        for round in 0..<150 {
            var pairs: [String] = []
            if round % 3 == 0 {
                // A real pending state of this browser, so the later checks are reached too.
                let start = try browser.go(stack.base + "/auth/oidc/login")
                if let state = URLComponents(string: start.location ?? "")?.queryItems?.first(where: { $0.name == "state" })?.value {
                    pairs.append("state=" + state)
                }
            }
            for _ in 0..<rng.int(0...4) { pairs.append(rng.pick(names) + (rng.chance(4) ? "" : "=" + rng.pick(values))) }
            pairs.shuffle(using: &rng)
            let answer = try browser.go(stack.base + "/auth/oidc/callback?" + pairs.joined(separator: rng.chance(5) ? "&&" : "&"))
            if answer.status == 414 { continue }  // nginx refuses a request line over its buffers before we see it
            #expect(answer.status == 302, "\(pairs)")
            let code = answer.loginError ?? "(none)"
            #expect(known.contains(code), "\(pairs) -> \(answer.location ?? "")")
            #expect(!answer.signedIn)
        }
        #expect(kill(pid, 0) == 0 && stack.pid("cryotensor") == pid, "the responder restarted or died")
        let sessions = try stack.sql("SELECT COUNT(*) FROM sessions")
        #expect(sessions.trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        // The flood of failures did not fill the trail: the first 20 of the window are recorded.
        let recorded = try stack.sql("SELECT COUNT(*) FROM audit_events WHERE action = 'auth.login_failed'").trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(recorded == "20", "\(recorded)")
    }

    @Test func anExistingAccountIsLinkedOnlyOnAVerifiedEmail() throws {
        let port = freePort()
        let provider = try IdentityProvider(people: Self.people, stackPort: port)
        let stack = try Stack(env: provider.settings(port, ["OIDC_ADMIN_GROUPS": "ct-admins"]), port: port)
        // A password admin exists with the address the provider's accounts claim.
        try stack.addUser("owner@example.com", admin: true)
        let ownerID = try stack.sql("SELECT id FROM users WHERE email = 'owner@example.com'").trimmingCharacters(
            in: .whitespacesAndNewlines)
        // mallory claims that address unverified (and the admin group): refused, nothing linked.
        let mallory = Browser()
        #expect(try mallory.signIn(stack, provider, "mallory", "mallory-pw-1").loginError == "email_not_verified")
        #expect(try mallory.me(stack) == nil)
        let links = "SELECT COUNT(*) FROM user_identities"
        #expect(try stack.sql(links).hasPrefix("0"))
        // The provider's verified account of that address is linked to the existing user (a user now: not in ct-admins,
        // but the service keeps its last admin, so the sign-in is refused until another admin exists).
        #expect(try Browser().signIn(stack, provider, "owner", "owner-pw-1").loginError == "last_admin")
        try stack.addUser("second-admin@example.com", admin: true)
        let owner = Browser()
        #expect(try owner.signIn(stack, provider, "owner", "owner-pw-1").signedIn)
        #expect(try owner.me(stack)?["id"]?.intValue == Int(ownerID))
        #expect(try owner.me(stack)?["role"] == "user")
        // A second provider account with the same verified address is another subject: refused.
        #expect(try Browser().signIn(stack, provider, "twin", "twin-pw-1").loginError == "account_conflict")
        let events = try stack.sql("SELECT action || ' ' || details FROM audit_events WHERE action LIKE 'user.%'")
        #expect(events.contains("\"linked\""))
    }

    @Test func theClientSecretNeverLeaks() throws {
        let port = freePort()
        let provider = try IdentityProvider(people: Self.people, stackPort: port)
        let stack = try Stack(
            env: provider.settings(port, ["OIDC_ADMIN_GROUPS": "ct-admins"]), port: port)
        let secret = IdentityProvider.clientSecret
        let alice = Browser()
        #expect(try alice.signIn(stack, provider, "alice", "alice-pw-1").signedIn)
        // A failed exchange too (a used code), which logs the token endpoint's answer.
        let callback = try alice.callbackURL(stack, provider, "alice", "alice-pw-1")
        _ = try alice.go(callback)
        var seen: [String: String] = [:]
        for path in ["/admin/status", "/admin/config", "/admin/config/export", "/admin/config/export?secrets=encrypted", "/admin/audit"] {
            seen[path] = try alice.go(stack.base + path).body
        }
        #expect(seen["/admin/status"]?.contains("\"client_secret\":{\"set\":true") == true)
        let check = try stack.cli(["check-config"])
        seen["check-config"] = check.stdout + check.stderr
        #expect(check.stdout.contains("OIDC_CLIENT_SECRET=(set)"))
        seen["audit export"] = try stack.cli(["audit", "export"]).stdout
        for name in ["cryotensor.log", "nginx-access.log", "nginx-error.log", "redis.log"] { seen[name] = stack.log(name) }
        for (name, data) in stack.persistedBytes() { seen[name] = String(decoding: data, as: UTF8.self) }
        for (name, text) in seen {
            #expect(!text.contains(secret), "the client secret is in \(name)")
            #expect(!text.contains(Encoding.base64(Array("cryotensor:\(secret)".utf8))), "the Basic credentials are in \(name)")
        }
        #expect(seen["cryotensor.log"]?.contains("\"method\":\"oidc\"") == true)
    }

    @Test func passwordSignInCanBeTurnedOff() throws {
        let stack = try Stack(env: ["ENABLE_PASSWORD_LOGIN": "false"])
        let password = try stack.addUser("admin@example.com", admin: true)
        let r = try Client(base: stack.base).post("/auth/login", ["email": "admin@example.com", "password": .string(password)])
        #expect(r.status == 403 && r.errorCode == "password_login_disabled")
        let providers = try Client(base: stack.base).get("/auth/providers")
        #expect(providers.json?["password"] == false && providers.json?["oidc"]?["enabled"] == false)
        // Without a provider, its login answers with a login_error, not a page.
        let login = try Browser().go(stack.base + "/auth/oidc/login")
        #expect(login.loginError == "oidc_not_configured")
        // Operator commands still work.
        let token = try stack.cli(["token", "create", "--user", "admin@example.com"])
        #expect(token.status == 0)
        let client = Client(base: stack.base)
        client.bearer = token.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try client.get("/admin/status").status == 200)
    }

    @Test func anInsecureIssuerIsRefusedAtStart() throws {
        let stack = try Stack()
        let base = [
            "OIDC_CLIENT_ID": "cryotensor", "OIDC_CLIENT_SECRET": "s3cret-value-for-check-config",
            "OIDC_REDIRECT_URI": "https://chat.example.com/api/v1/auth/oidc/callback"
        ]
        let cases: [(String, String?, Bool)] = [
            ("http://idp.example.com/realms/x", nil, false),
            ("http://idp.example.com/realms/x", "true", false),  // the flag opens loopback only
            ("http://127.0.0.1:9/openid", nil, false),
            ("http://127.0.0.1:9/openid", "true", true),
            ("https://user:pw@idp.example.com/", nil, false),
            ("https://idp.example.com/realms/x", nil, true)
        ]
        for (issuer, flag, ok) in cases {
            var env: [String: String?] = base.mapValues { $0 }
            env["OIDC_ISSUER"] = issuer
            env["OIDC_ALLOW_INSECURE_HTTP_ISSUER"] = flag
            let r = try stack.cli(["check-config"], env: env)
            #expect((r.status == 0) == ok, "\(issuer) \(flag ?? "-"): \(r.stdout) \(r.stderr)")
            if !ok { #expect((r.stdout + r.stderr).contains("OIDC_ISSUER")) }
            #expect(!(r.stdout + r.stderr).contains("s3cret-value"))
        }
        // A secret with a line break would add a header of its own to the token request: refused, and not echoed.
        var injected: [String: String?] = base.mapValues { $0 }
        injected["OIDC_ISSUER"] = "https://idp.example.com"
        injected["OIDC_CLIENT_SECRET"] = "s3cret-value\r\nX-Injected: 1"
        let refused = try stack.cli(["check-config"], env: injected)
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("OIDC_CLIENT_SECRET"))
        #expect(!(refused.stdout + refused.stderr).contains("X-Injected"))
        var missing: [String: String?] = base.mapValues { $0 }
        missing["OIDC_ISSUER"] = "https://idp.example.com"
        missing["OIDC_REDIRECT_URI"] = nil
        let r = try stack.cli(["check-config"], env: missing)
        #expect(r.status != 0 && (r.stdout + r.stderr).contains("OIDC_REDIRECT_URI"))
    }
}
