import Foundation
import Support
import TestSupport
import Testing

/// A seeded fuzz of the API through nginx. Field names are learned from the API's own answers
/// (settings, valves), values are extreme numbers, wrong types, huge strings, invalid UTF-8 and
/// deep nesting. No answer may be a 5xx, and the service must be alive after each round.
@Suite("Route fuzz through nginx", .serialized)
struct RouteFuzzTests {
    /// Raw JSON texts, many of which JSON.serialize would never write.
    static let hostileValues: [String] = [
        "1e300", "-1e300", "1e400", "-1E+999", "1e-400", "-0", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
        "9007199254740993", "0.1e-7", "123456789012345678901234567890", "1.5", "0", "-1", "true", "false", "null", "\"\"", "\"5\"",
        "[]", "[1e300]", "{}", "{\"a\":1e999}", "\"\\u0000\"", "\"\\ud800\"", "\"line\\r\\nX-Injected: 1\"", "\"%00%0d%0a\"",
        "\"http://169.254.169.254/\"", "\"" + String(repeating: "A", count: 200_000) + "\"",
        String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000)
    ]

    static func body(_ template: (String) -> String, _ value: String) -> Data { Data(template(value).utf8) }

    @Test func noInputOnAnyRouteIsA5xxOrKillsTheService() throws {
        let upstream = try MockUpstream()
        let stack = try Stack(env: ["OPENAI_ALLOWED_API_BASE_URLS": upstream.baseURL])
        let admin = try stack.signedIn("admin@example.com", admin: true)
        let settings = try #require(try admin.get("/admin/config").json?["settings"]?.objectValue).keys.sorted()
        let valves = try #require(try admin.get("/admin/pipes/openrouter/valves").json?["valves"]?.objectValue).keys.sorted()
        #expect(settings.count >= 10 && valves.count >= 15, "learned \(settings.count) settings and \(valves.count) valves")
        let chat = try #require(try admin.post("/chats", [:]).json?["id"]?.intValue)
        let pid = try #require(stack.pid("cryotensor"))

        typealias Target = (method: String, path: String, template: (String) -> String)
        var targets: [Target] = []
        for name in settings {
            targets.append(("PATCH", "/admin/config", { "{\"\(name)\": \($0)}" }))
            targets.append(("POST", "/admin/config/import?dry_run=true", { "{\"settings\": {\"\(name)\": \($0)}}" }))
        }
        for name in valves { targets.append(("PUT", "/admin/pipes/openrouter/valves", { "{\"valves\": {\"\(name)\": \($0)}}" })) }
        for field in ["name", "kind", "base_url", "api_key", "enabled", "api_version", "clear_api_key", "allowed_groups"] {
            targets.append(
                (
                    "POST", "/admin/connections",
                    { "{\"name\": \"f\", \"base_url\": \"\(upstream.baseURL)\", \"\(field)\": \($0)}" }
                ))
        }
        targets += [
            ("POST", "/chats", { "{\"title\": \($0)}" }),
            ("PATCH", "/chats/\(chat)", { "{\"title\": \($0)}" }),
            ("POST", "/chats/\(chat)/messages", { "{\"content\": \($0), \"model\": \"none\", \"stream\": false}" }),
            ("POST", "/chats/\(chat)/messages", { "{\"content\": \"hi\", \"model\": \($0), \"attachments\": \($0)}" }),
            (
                "POST", "/chat/completions",
                { "{\"model\": \"mock-gpt-4o\", \"messages\": [{\"role\":\"user\",\"content\":\"x\"}], \"n\": \($0)}" }
            ),
            ("POST", "/chat/completions", { "{\"model\": \($0), \"messages\": \($0), \"max_tokens\": \($0)}" }),
            ("POST", "/files/fetch", { "{\"url\": \($0), \"dry_run\": true}" }),
            ("POST", "/auth/login", { "{\"email\": \($0), \"password\": \($0)}" }),
            ("POST", "/admin/users", { "{\"email\": \($0), \"password\": \($0), \"role\": \($0)}" }),
            ("PATCH", "/admin/users/1", { "{\"role\": \($0), \"disabled\": \($0)}" }),
            ("POST", "/tokens", { "{\"name\": \($0)}" }),
            ("POST", "/admin/groups", { "{\"name\": \($0), \"members\": \($0), \"daily_token_quota\": \($0)}" }),
            ("POST", "/admin/groups", { "{\"name\": \"g\", \"members\": [\($0)], \"daily_token_quota\": \($0)}" }),
            ("PATCH", "/admin/groups/1", { "{\"name\": \($0), \"members\": \($0), \"daily_token_quota\": \($0)}" })
        ]

        var rng = SeededGenerator(state: 0xC0FFEE)
        var failures: [String] = []
        for round in 0..<400 {
            let target = rng.pick(targets)
            var data = Self.body(target.template, rng.pick(Self.hostileValues))
            switch rng.next() % 8 {
            case 0: data.append(contentsOf: [0xFF, 0xFE, 0xC0, 0x80])  // invalid UTF-8 after the document
            case 1: data.insert(contentsOf: [0xED, 0xA0, 0x80], at: min(2, data.count))  // an encoded surrogate inside
            case 2: data = data.prefix(Int(rng.next() % UInt64(max(1, data.count))))  // cut short
            default: break
            }
            let r = try admin.request(target.method, target.path, body: data)
            if r.status >= 500 || r.status == 0 {
                failures.append("\(target.method) \(target.path) -> \(r.status): \(String(decoding: data.prefix(120), as: UTF8.self))")
            }
            if round % 50 == 49 {
                #expect(kill(pid, 0) == 0, "the responder died")
                #expect(try Client(base: stack.base).get("/health").status == 200)
            }
            // Query strings too: hostile percent-encoding in search.
            if round % 10 == 0 {
                let q =
                    [
                        "%", "%G1", "%ff%fe", "%00", String(repeating: "%41", count: 400), "a+b%2B",
                        "%ED%A0%80"
                    ].randomElement(using: &rng) ?? ""
                let s = try admin.get("/chats/search?q=\(q)")
                if s.status >= 500 { failures.append("search q=\(q) -> \(s.status)") }
                for path in ["/usage?since=\(q)", "/admin/usage?user=\(q)&until=\(q)"] {
                    let u = try admin.get(path)
                    if u.status >= 500 { failures.append("\(path) -> \(u.status)") }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) answers were 5xx: \(failures.prefix(5))")
        #expect(kill(pid, 0) == 0, "the responder died")
        #expect(try Client(base: stack.base).get("/health").status == 200)
        #expect(!stack.log("cryotensor.log").contains("handler_failed"), "a handler failed: see the log")
    }
}
