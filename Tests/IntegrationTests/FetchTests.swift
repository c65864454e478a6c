import Foundation
import Support
import Testing

/// True inside a network namespace whose only interface is loopback (scripts/test runs the tests
/// under `unshare -n` as root), so a bug in the guard cannot send a packet off the machine.
let networkIsIsolated: Bool = {
    guard let dev = try? String(contentsOfFile: "/proc/net/dev", encoding: .utf8) else { return false }
    let names = dev.split(separator: "\n").dropFirst(2).compactMap { $0.split(separator: ":").first?.trimmingCharacters(in: .whitespaces) }
    return names == ["lo"]
}()

@Suite(
    "Guarded downloads through nginx (loopback-only namespace)", .serialized,
    .enabled(if: networkIsIsolated, "needs unshare -n (scripts/test does this as root)"))
struct FetchTests {
    let server: MockUpstream
    let stack: Stack
    let user: Client

    init() throws {
        server = try MockUpstream()
        stack = try Stack(env: [
            "SSRF_ALLOWED_CIDRS": "127.0.0.1/32", "ALLOW_INSECURE_HTTP": "true",
            "ALLOW_INSECURE_HTTP_HOSTS": "127.0.0.1:\(server.port),127.0.0.2:\(server.port)",
            "REMOTE_FILE_MAX_SIZE_MB": "0.01", "REMOTE_DOWNLOAD_MAX_RETRIES": "3",
            "REMOTE_DOWNLOAD_INITIAL_RETRY_DELAY_SECONDS": "0.2", "REMOTE_DOWNLOAD_MAX_RETRY_TIME_SECONDS": "3"
        ])
        user = try stack.signedIn("u@example.com")
    }

    var origin: String { "http://127.0.0.1:\(server.port)" }

    func fetch(_ url: String) throws -> HTTPResult { try user.post("/files/fetch", ["url": .string(url)]) }

    func storedFiles() throws -> String {
        try stack.sql("SELECT COUNT(*) FROM files").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func fetchesStoresAndServesOnlyToItsOwner() throws {
        let r = try fetch("\(origin)/__file?size=1000&type=text/html")
        #expect(r.status == 201)
        #expect(r.json?["size"] == 1000)
        #expect(r.json?["sha256"]?.stringValue == Encoding.hex(sha256Of(String(repeating: "x", count: 1000))))
        #expect(r.json?["url"]?.stringValue == "\(origin)/__file", "the stored URL has no query")
        let id = try #require(r.json?["id"]?.intValue)
        #expect(try user.get("/files/\(id)").json?["content_type"]?.stringValue == "text/html")
        let content = try user.get("/files/\(id)/content")
        #expect(content.body.count == 1000)
        #expect(content.header("Content-Type") == "application/octet-stream", "fetched HTML is never rendered from our origin")
        #expect(content.header("Content-Disposition")?.hasPrefix("attachment") == true)
        let other = try stack.signedIn("o@example.com")
        #expect(try other.get("/files/\(id)").status == 404)
        #expect(try other.get("/files/\(id)/content").status == 404)
    }

    @Test func redirectToABlockedAddressIsRefused() throws {
        for target in [
            "http://127.0.0.2:\(server.port)/__file", "http://169.254.169.254/latest/meta-data/", "http://[::1]:\(server.port)/",
            "ftp://127.0.0.1/", "http://localhost:\(server.port)/"
        ] {
            let escaped = target.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let r = try fetch("\(origin)/__redirect?to=\(escaped)")
            #expect([403, 400].contains(r.status), "\(target): \(r.status)")
            #expect(
                ["blocked_address", "scheme_not_allowed", "insecure_http_not_allowed"].contains(r.errorCode ?? ""),
                "\(target): \(r.errorCode ?? "")")
        }
        let chain = try fetch("\(origin)/__redirect?to=%2F__redirect%3Fto%3D%252F__file%253Fsize%253D10")
        #expect(chain.status == 201, "a relative two-hop redirect inside the allowed host works")
        #expect(try storedFiles() == "1")
        #expect(stack.log("cryotensor.log").contains("\"event\":\"fetch_refused\""))
    }

    @Test func oversizedBodiesAreCutOffAndNothingIsStored() throws {
        let declared = try fetch("\(origin)/__file?size=50000")
        #expect(declared.status == 413 && declared.errorCode == "too_large")
        let chunked = try fetch("\(origin)/__chunked?size=50000")
        #expect(chunked.status == 413 && chunked.errorCode == "too_large")
        #expect(try storedFiles() == "0")
    }

    @Test func aServerThatNeverAnswersHitsTheTimeBudget() throws {
        let started = Date()
        let r = try fetch("\(origin)/__hang?seconds=30")
        let elapsed = Date().timeIntervalSince(started)
        #expect(r.status == 504 && r.errorCode == "timeout")
        #expect(elapsed < 6, "took \(elapsed) s with a 3 s budget")
    }

    @Test func retriesThrough503AndHonoursRetryAfter() throws {
        let quick = try fetch("\(origin)/__flaky?id=a&fail=2")
        #expect(quick.status == 201, "503, 503, then 200 within the budget")
        let started = Date()
        let patient = try fetch("\(origin)/__flaky?id=b&fail=1&retry_after=1")
        #expect(patient.status == 201)
        #expect(Date().timeIntervalSince(started) >= 1.0, "Retry-After: 1 was honoured")
        let hopeless = try fetch("\(origin)/__flaky?id=c&fail=10&status=500")
        #expect(hopeless.status == 502 && hopeless.errorCode == "upstream_status")
        let notFound = try fetch("\(origin)/__nope")
        #expect(notFound.errorCode == "upstream_status")
    }

    @Test func dryRunAndCheckURLDecideWithoutConnecting() throws {
        let before = try server.requests().count
        let allowed = try user.post("/files/fetch", ["url": .string("\(origin)/__file"), "dry_run": true])
        #expect(allowed.json?["allowed"] == true)
        let refused = try user.post("/files/fetch", ["url": "http://10.0.0.1/", "dry_run": true])
        #expect(refused.json?["allowed"] == false)
        #expect(refused.json?["code"]?.stringValue == "insecure_http_not_allowed")
        let metadata = try user.post("/files/fetch", ["url": "https://169.254.169.254/", "dry_run": true])
        #expect(metadata.json?["code"]?.stringValue == "blocked_address")
        #expect(try server.requests().count == before, "a dry run never connects")
        let cli = try stack.cli(["check-url", "https://[::ffff:127.0.0.2]/"])
        #expect(cli.status == 1 && cli.stdout.contains("blocked_address"))
        let ok = try stack.cli(["check-url", "\(origin)/x"])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("allowed"))
    }

    @Test func refusalsAreLoggedWithoutQueryOrUserinfo() throws {
        _ = try fetch("http://127.0.0.2:\(server.port)/secret-path?token=SHOULD-NOT-BE-LOGGED")
        _ = try fetch("https://user:PASSWORD-IN-URL@example.com/")
        let log = stack.log("cryotensor.log")
        #expect(log.contains("secret-path"))
        #expect(!log.contains("SHOULD-NOT-BE-LOGGED"))
        #expect(!log.contains("PASSWORD-IN-URL"))
    }
}

func sha256Of(_ text: String) -> [UInt8] {
    let r = try? runCommand("/usr/bin/sha256sum", [], stdin: text)
    let hex = r?.stdout.split(separator: " ").first.map(String.init) ?? ""
    var out: [UInt8] = []
    var chars = Array(hex)
    while chars.count >= 2 { out.append(UInt8(String(chars[0...1]), radix: 16) ?? 0); chars.removeFirst(2) }
    return out
}
