import Support
import TestSupport
import Testing

@testable import Outbound

@Suite struct GuardFuzzTests {
    static let schemes = ["https://", "http://", "HTTPS://", "ftp://", "", "//", "https:/", "https:\\\\", "gopher://", "data:"]
    static let pieces = [
        "127.0.0.1", "0x7f", "0177", "2130706433", "[::1]", "[::ffff:7f00:1]", "localhost", "public.test", "private.test",
        "@", "\\", "%2e", "%00", "user@", ".", ":", "::", "[", "]", "\u{24DB}", "\u{FF11}", "\t", "#", "?", "/",
        "10.0.0.1",
        "169.254.169.254", "0", "1", "255", "256", "00", "x", "-", "allowed.test", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
        "[fe80::1%25eth0]", "..", "\u{0}", " ", "\n", "xn--", "mixed.test", ":80", ":0", ":65536", ":443", "%40"
    ]

    static let hosts = [
        "public.test", "private.test", "allowed.test", "mixed.test", "93.184.216.34", "127.0.0.1", "[::1]",
        "[2606:4700::1111]", "10.0.0.1", "[::ffff:10.0.0.1]", "localhost", "v6public.test", "metadata.test"
    ]

    static func input(_ rng: inout SeededGenerator) -> String {
        if Bool.random(using: &rng) {
            // Mostly well-formed: a known host, sometimes a port, a path with random characters.
            var s = ["https://", "http://"].randomElement(using: &rng)! + hosts.randomElement(using: &rng)!
            if Int.random(in: 0..<4, using: &rng) == 0 { s += ":" + String(Int.random(in: 0...70000, using: &rng)) }
            s += "/"
            for _ in 0..<Int.random(in: 0...3, using: &rng) { s += pieces.randomElement(using: &rng) ?? "" }
            return s
        }
        var s = schemes.randomElement(using: &rng) ?? ""
        for _ in 0..<Int.random(in: 1...6, using: &rng) {
            if Bool.random(using: &rng) {
                s += pieces.randomElement(using: &rng) ?? ""
            } else {
                s += String(UnicodeScalar(UInt8.random(in: 0x20...0x7E, using: &rng)))
            }
        }
        return s
    }

    @Test func hundredThousandInputsNeverCrashAndNeverAllowABlockedAddress() {
        var rng = SeededGenerator(state: 0xC0FFEE)
        var allowed = 0
        for _ in 0..<100_000 {
            let raw = Self.input(&rng)
            guard case .success(let v) = DownloadGuard.check(raw, settings: guardSettings(), resolver: resolver) else { continue }
            allowed += 1
            for address in v.addresses {
                #expect(AddressPolicy.blockReason(address) == nil, "\(raw.debugDescription) allowed \(address)")
            }
            if case .name(let name) = v.url.host { #expect(!name.hasSuffix("localhost"), "\(raw.debugDescription)") }
            #expect(v.url.scheme == "https" || v.url.scheme == "http")
            // What libcurl is given parses to the same host and address again.
            if case .success(let again) = GuardedURL.parse(v.url.normalized) {
                #expect(again == v.url)
            } else {
                Issue.record("normalized form of \(raw.debugDescription) does not parse")
            }
        }
        #expect(allowed > 5_000, "the generator should also produce acceptable URLs (got \(allowed))")
    }
}

/// DNS rebinding: one answer is checked and pinned; a resolver that changes its mind later is
/// never asked again for that hop, and the socket callback refuses any other address.
final class RebindingResolver: Resolver, @unchecked Sendable {
    var calls = 0
    func resolve(_ host: String, port: Int) -> Result<[IPAddress], GuardRefusal> {
        calls += 1
        return .success([IPAddress(calls == 1 ? "93.184.216.34" : "127.0.0.1")!])
    }
}

@Suite struct RebindingTests {
    @Test func theCheckedAnswerIsPinned() throws {
        let rebinding = RebindingResolver()
        let v = try DownloadGuard.check("https://rebind.test/", settings: guardSettings(), resolver: rebinding).get()
        #expect(v.pinned == IPAddress("93.184.216.34"))
        #expect(rebinding.calls == 1)
        // Asked again, the resolver would now answer loopback, and that is refused.
        #expect(verdictWith(rebinding) == "blocked_address")
    }

    func verdictWith(_ r: any Resolver) -> String {
        switch DownloadGuard.check("https://rebind.test/", settings: guardSettings(), resolver: r) {
        case .success: "allowed"
        case .failure(let e): e.code.rawValue
        }
    }

    /// libcurl asked to connect somewhere other than the pinned address is stopped at the socket,
    /// before any packet is sent.
    @Test func socketCallbackRefusesAnUncheckedAddress() throws {
        let url = try GuardedURL.parse("http://127.0.0.1:9/").get()
        let forged = Verdict(url: url, addresses: [IPAddress("127.0.0.2")!], pinned: IPAddress("127.0.0.2")!)
        var settings = guardSettings(protection: false)
        settings.allowInsecureHTTP = true
        guard case .failure(let refusal) = DownloadGuard.perform(forged, settings: settings, timeout: 2) else {
            Issue.record("connection was allowed")
            return
        }
        #expect(refusal.code == .blockedAddress)
        #expect(refusal.reason.contains("not checked"))
    }

    @Test func socketCallbackRechecksBlockedRanges() throws {
        let url = try GuardedURL.parse("http://127.0.0.1:9/").get()
        let verdict = Verdict(url: url, addresses: [IPAddress("127.0.0.1")!], pinned: IPAddress("127.0.0.1")!)
        guard case .failure(let refusal) = DownloadGuard.perform(verdict, settings: guardSettings(), timeout: 2) else {
            Issue.record("connection was allowed")
            return
        }
        #expect(refusal.code == .blockedAddress)
    }
}
