import TestSupport
import Testing

@testable import FastCGI

/// Seeded fuzzing of what `Request` decodes from the client's query string and cookies.
@Suite struct RequestFuzzTests {
    /// The documented behaviour, written plainly: `+` is a space, `%` and two hex digits a byte,
    /// anything else (a lone `%`, `%G1`, `%+1`) is kept as sent; bytes that are not UTF-8 become U+FFFD.
    static func reference(_ text: String) -> String {
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x41...0x46: c - 0x41 + 10
            case 0x61...0x66: c - 0x61 + 10
            default: nil
            }
        }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "+") {
                out.append(0x20)
            } else if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let hi = hex(bytes[i + 1]), let lo = hex(bytes[i + 2]) {
                out.append(hi << 4 | lo)
                i += 2
            } else {
                out.append(bytes[i])
            }
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let pieces = [
        "%", "%%", "%G1", "%1", "%41", "%4a", "%4A", "%+1", "%-0", "%-1", "% 1", "%0x", "%C3%A9", "%C3", "%FF", "%ff%fe",
        "%E2%82", "%00", "+", "++", "a", "Z", "é", "😀", "=", "&", ";", " ", "%2B", "%25", "%%41", "\u{0}"
    ]

    static func text(_ rng: inout SeededGenerator) -> String {
        var s = ""
        for _ in 0..<rng.int(0...8) {
            if rng.chance(5) {
                // Raw bytes, read as the lossy UTF-8 the FastCGI layer hands over.
                s += String(decoding: rng.bytes(rng.int(1...3)), as: UTF8.self)
            } else {
                s += rng.pick(pieces)
            }
        }
        return s
    }

    @Test func percentDecodeMatchesTheDocumentedRules() {
        var rng = SeededGenerator(state: 0xFC61)
        for _ in 0..<60_000 {
            let t = Self.text(&rng)
            #expect(percentDecode(t) == Self.reference(t), "\(t.debugDescription)")
        }
    }

    static func encode(_ s: String, _ rng: inout SeededGenerator) -> String {
        var out = ""
        for b in s.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b == 0x20, rng.chance(2) {
                out += "+"
            } else if b < 0x80, c.isLetter || c.isNumber || "-._~".contains(c), rng.chance(2) {
                out.append(c)
            } else {
                let digits = rng.chance(2) ? "0123456789ABCDEF" : "0123456789abcdef"
                out +=
                    "%" + String(digits[digits.index(digits.startIndex, offsetBy: Int(b >> 4))])
                    + String(digits[digits.index(digits.startIndex, offsetBy: Int(b & 0xF))])
            }
        }
        return out
    }

    static func randomString(_ rng: inout SeededGenerator) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<rng.int(0...8) {
            if let u = Unicode.Scalar(UInt32(rng.chance(2) ? rng.int(0...0x7F) : rng.int(0...0x10FFFF))) { s.append(u) }
        }
        return String(s)
    }

    @Test func percentEncodedStringsRoundTrip() {
        var rng = SeededGenerator(state: 0x2525)
        for _ in 0..<40_000 {
            let s = Self.randomString(&rng)
            let encoded = Self.encode(s, &rng)
            #expect(percentDecode(encoded) == s, "\(s.debugDescription) as \(encoded)")
        }
    }

    @Test func queryItemsRoundTripAndRandomQueriesNeverTrap() {
        var rng = SeededGenerator(state: 0x9E2F)
        for _ in 0..<8_000 {
            var names: [String] = []
            var pairs: [(String, String)] = []
            for _ in 0..<rng.int(1...4) {
                let name = Self.randomString(&rng)
                guard !names.contains(name) else { continue }
                names.append(name)
                pairs.append((name, Self.randomString(&rng)))
            }
            let query = pairs.map { Self.encode($0.0, &rng) + "=" + Self.encode($0.1, &rng) }.joined(separator: "&")
            let request = Request(params: ["QUERY_STRING": query])
            for (name, value) in pairs { #expect(request.queryItem(name) == value, "\(query)") }

            let random = Request(params: ["QUERY_STRING": Self.text(&rng)])
            _ = random.queryItem(Self.randomString(&rng))
            _ = random.queryItem("")
        }
    }

    @Test func cookiesAreFoundAndRandomHeadersNeverTrap() {
        var rng = SeededGenerator(state: 0xC00C1E)
        let cookieChars = Array("abcXYZ019-_.~!%+/=é")
        for _ in 0..<10_000 {
            var names: [String] = []
            var parts: [String] = []
            var expected: [String: String?] = [:]
            for _ in 0..<rng.int(1...4) {
                let name = String((0..<rng.int(1...6)).map { _ in rng.pick(cookieChars.filter { $0 != "=" }) })
                let value = String((0..<rng.int(0...8)).map { _ in rng.pick(cookieChars) })
                parts.append(name + "=" + value)
                // A name sent twice is ambiguous (a sibling may have planted one): no value at all.
                if !names.contains(name) { names.append(name); expected[name] = .some(value) } else { expected[name] = .some(nil) }
            }
            let header = parts.joined(separator: rng.chance(2) ? "; " : ";")
            let request = Request(params: ["HTTP_COOKIE": header])
            for (name, value) in expected { #expect(request.cookie(name) == value, "\(header)") }
            #expect(request.cookie("absent-name") == nil)

            let random = Request(params: ["HTTP_COOKIE": Self.text(&rng) + ";" + Self.text(&rng)])
            _ = random.cookie(Self.randomString(&rng))
            _ = random.cookie("")
        }
    }

    /// Found by `percentDecodeMatchesTheDocumentedRules`: UInt8(_:radix:) accepts a sign, so "%+1" was byte 1.
    @Test(arguments: [("%+1", "% 1"), ("%-0", "%-0"), ("%-1", "%-1"), ("%+F", "% F"), ("%41", "A"), ("%", "%"), ("a%4", "a%4")])
    func signsAreNotHexDigits(_ text: String, _ decoded: String) {
        #expect(percentDecode(text) == decoded)
    }
}
