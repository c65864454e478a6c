import Support
import TestSupport
import Testing

/// The byte writer must make exactly what the tree serializer makes: clients see no change.
@Suite struct JSONWriterTests {
    static let hostile: [String] = [
        "", "plain", "quote \" backslash \\ slash /", "<script>alert('x')</script> & more",
        "\u{0}\u{1}\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1b}\u{1f}\u{7f}", "line\u{2028}para\u{2029}end \u{2027}\u{202a}",
        "é ü ß 中文 日本語 한국어", "emoji 😀 👩‍👩‍👧‍👦 🇫🇷 🏳️‍🌈", "combining e\u{301} and \u{fe0f}",
        "\u{fffd}\u{feff}\u{10ffff}\u{e000}", "\\ud800 written out", #"\"escaped\" \u0000"#, "tab\tnew\nret\r",
        String(repeating: "long ", count: 2000) + "😀"
    ]

    /// The old path: a tree serialized the way `JSON` did before the writer (`ReferenceJSON`);
    /// today's `JSON.serialized()` must agree with it too.
    static func viaTree(_ value: JSON) -> [UInt8] {
        let reference = Array(ReferenceJSON.serialize(value).utf8)
        #expect(Array(value.serialized().utf8) == reference)
        return reference
    }

    @Test(arguments: hostile)
    func stringsMatchTheTree(_ text: String) {
        var w = JSONWriter()
        w.string(text)
        #expect(w.bytes == Self.viaTree(.string(text)))
        var fromBytes = JSONWriter()
        Array(text.utf8).withUnsafeBufferPointer { fromBytes.string(utf8: $0) }
        #expect(fromBytes.bytes == w.bytes)
    }

    @Test func invalidUTF8IsRepairedAsStringDecodingDoes() {
        let cases: [[UInt8]] = [
            [0xFF], [0x61, 0xC0, 0xAF, 0x62], [0xED, 0xA0, 0x80], [0xED, 0xB0, 0x80, 0x22], [0xF4, 0x90, 0x80, 0x80],
            [0xE2, 0x80], [0xE2, 0x80, 0x3C], [0xF0, 0x9F, 0x98], [0x80, 0x80, 0x26], [0xC2], [0xE0, 0x80, 0x80],
            [0xE2, 0x80, 0xA8, 0xFE, 0xE2, 0x80, 0xA9]
        ]
        for bytes in cases {
            var w = JSONWriter()
            bytes.withUnsafeBufferPointer { w.string(utf8: $0) }
            #expect(w.bytes == Self.viaTree(.string(String(decoding: bytes, as: UTF8.self))), "\(bytes)")
        }
    }

    @Test func randomBytesMatchTheTree() {
        var g = SeededGenerator(state: 14)
        let pieces: [[UInt8]] = [
            [0xE2, 0x80, 0xA8], [0xE2, 0x80, 0xA9], [0xF0, 0x9F, 0x98, 0x80], [0xC3, 0xA9], [0x22], [0x5C],
            [0x3C], [0x26], [0x00], [0x1F], [0xED, 0xA0, 0x80], [0x7F]
        ]
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<g.int(0...12) { bytes += g.chance(2) ? g.pick(pieces) : g.bytes(g.int(1...3)) }
            var w = JSONWriter()
            bytes.withUnsafeBufferPointer { w.string(utf8: $0) }
            #expect(w.bytes == Self.viaTree(.string(String(decoding: bytes, as: UTF8.self))), "\(bytes)")
        }
    }

    static let integers: [Int64] = [
        0, 1, -1, 42, 1_767_225_600, -9_000_000_000_000_000 + 1, 8_999_999_999_999_999, 9_000_000_000_000_000,
        9_007_199_254_740_993, Int64.max, Int64.min
    ]

    @Test(arguments: integers)
    func integersMatchTheTree(_ value: Int64) {
        var w = JSONWriter()
        w.int(value)
        #expect(w.bytes == Self.viaTree(.number(Double(value))))
    }

    @Test func randomTreesSerializeAsBefore() {
        var g = SeededGenerator(state: 0x7EE)
        let strings = ["", "a", "\"", "<&>", "\u{2028}", "😀", "\u{0}", "é", "key", "Key", "kéy", "k\u{301}"]
        let numbers: [Double] = [0, -0.0, 1, -1, 2.5, 1e20, -1e-7, 9e15, 8.9e15, .infinity, 123_456_789, 0.1]
        func tree(_ depth: Int) -> JSON {
            switch depth > 3 ? g.int(0...3) : g.int(0...5) {
            case 0: return .null
            case 1: return .bool(g.chance(2))
            case 2: return .number(g.pick(numbers))
            case 3: return .string((0..<g.int(0...4)).map { _ in g.pick(strings) }.joined())
            case 4: return .array((0..<g.int(0...4)).map { _ in tree(depth + 1) })
            default:
                var fields: [String: JSON] = [:]
                for _ in 0..<g.int(0...5) { fields[g.pick(strings) + g.pick(strings)] = tree(depth + 1) }
                return .object(fields)
            }
        }
        for _ in 0..<2000 {
            let value = tree(0)
            #expect(value.serialized() == ReferenceJSON.serialize(value))
        }
    }

    @Test func aDocumentMatchesTheTree() {
        var w = JSONWriter()
        w.raw("{\"a\":")
        w.string(nil)
        w.raw(",\"b\":[")
        w.string("x<y>")
        w.raw(",")
        w.int(7)
        w.raw("]}")
        #expect(w.bytes == Self.viaTree(["b": [.string("x<y>"), 7], "a": nil]))
    }
}
