import Support
import TestSupport
import Testing

/// Seeded fuzzing of `BaseURL.normalize`: its output is compared with the allowlist, so it must be a fixed point.
@Suite struct BaseURLFuzzTests {
    static let schemes = ["https://", "http://", "HTTPS://", "HtTp://", "ftp://", "", "https:/", "https:", "://", " https://"]
    static let pieces = [
        "api.example.com", "EXAMPLE.com", "127.0.0.1", "[::1]", "[fe80::1]", "localhost", "a", ".", "..", ":", ":443",
        ":80", ":0", ":65535", ":65536", ":+80", ":0443", "/", "//", "/v1", "/v1/", "@", "user:pw@", "?", "#", "%20",
        " ", "\t", "\n", "\\", "\u{0}", "\u{7F}", "é", "\u{212A}", "xn--bcher-kva", "-", "_", "[", "]", "٣", "８"
    ]

    static func input(_ rng: inout SeededGenerator) -> String {
        var s = rng.pick(schemes)
        for _ in 0..<rng.int(0...5) {
            s += rng.chance(4) ? String(UnicodeScalar(UInt8.random(in: 0x20...0x7E, using: &rng))) : rng.pick(pieces)
        }
        return s
    }

    @Test func normalFormIsAFixedPoint() {
        var rng = SeededGenerator(state: 0xBA5E)
        var accepted = 0
        for _ in 0..<60_000 {
            let raw = Self.input(&rng)
            guard case .success(let normal) = BaseURL.normalize(raw) else { continue }
            accepted += 1
            #expect(BaseURL.normalize(normal) == .success(normal), "\(raw.debugDescription) -> \(normal.debugDescription)")
            #expect(normal.hasPrefix("https://") || normal.hasPrefix("http://"))
            #expect(!normal.hasSuffix("/") && !normal.contains("?") && !normal.contains("#"))
            #expect(!normal.contains(where: { $0.isWhitespace }))
        }
        #expect(accepted > 2_000)
    }

    /// Found by the fuzzer: each was accepted in a form that normalized differently (or failed) the second time.
    @Test(arguments: [
        "https://a..", "https://example.com..:443/v1", "https://..", "https://nk[::1]:443", "https://:0443:443",
        "http://-]127.0.0.1u..", "https://127.0.0.1:0:443"
    ])
    func aHostWithAnEmptyLastLabelIsRefused(_ raw: String) {
        #expect(BaseURL.normalize(raw) == .failure(.host))
    }

    @Test func oneTrailingRootDotIsDropped() {
        #expect(BaseURL.normalize("https://Example.com.:443/v1/") == .success("https://example.com/v1"))
    }
}
