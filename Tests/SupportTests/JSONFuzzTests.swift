import Foundation
import Support
import TestSupport
import Testing

/// Seeded fuzzing of `JSON.parse`, which reads every request body and every upstream reply.
@Suite struct JSONFuzzTests {
    /// Checks the properties every input must have; returns whether it parsed.
    @discardableResult
    static func check(_ bytes: [UInt8], _ note: @autoclosure () -> String = "") -> Bool {
        guard let value = try? JSON.parse(bytes) else { return false }
        // A document is UTF-8 text: nothing else may parse.
        #expect(String(validating: bytes, as: UTF8.self) != nil, "accepted invalid UTF-8 \(bytes) \(note())")
        let text = value.serialized()
        do {
            let again = try JSON.parse(text)
            #expect(again == value, "round trip changed \(String(decoding: bytes, as: UTF8.self).debugDescription) \(note())")
            #expect(again.serialized() == text)
        } catch {
            Issue.record("serialized form \(text.debugDescription) does not parse: \(error) \(note())")
        }
        return true
    }

    static let tokens: [String] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\"a\"", "\"k\":", "1", "-", "0", ".", "e", "E", "+", "-0", "1e400", "1e-400",
        "2.5", "true", "false", "null", " ", "\n", "\t", "\r", "\\u", "\\ud800", "\\udc00", "\\u0041", "\\n", "é", "😀",
        "\u{2028}", "<", "\u{0}", "nul", "tru", "01", "9007199254740993", "1.7976931348623157e308"
    ]

    @Test func randomBytesAndTokens() {
        var rng = SeededGenerator(state: 0x4A53_4F4E)
        var parsed = 0
        for i in 0..<60_000 {
            var bytes: [UInt8] = []
            for _ in 0..<rng.int(0...12) {
                if rng.chance(4) {
                    bytes += rng.bytes(rng.int(1...3))
                } else {
                    bytes += Array(rng.pick(Self.tokens).utf8)
                }
            }
            if Self.check(bytes, "iteration \(i)") { parsed += 1 }
        }
        #expect(parsed > 500, "the generator should reach valid documents too")
    }

    static func randomString(_ rng: inout SeededGenerator) -> String {
        let pool: [Unicode.Scalar] = [
            "a", "Z", "\"", "\\", "/", "\n", "\r", "\t", "\u{0}", "\u{1F}", "<", ">", "&", "\u{7F}",
            "\u{2028}", "\u{2029}", "é", "\u{301}", "\u{FFFF}", "\u{FEFF}", "😀", "\u{10FFFF}"
        ]
        var s = String.UnicodeScalarView()
        for _ in 0..<rng.int(0...6) {
            if rng.chance(3), let u = Unicode.Scalar(UInt32(rng.int(0...0x10FFFF))) {
                s.append(u)
            } else {
                s.append(rng.pick(pool))
            }
        }
        return String(s)
    }

    static let numbers: [Double] = [
        0, -0.0, 1, -1, 0.1, 2.5, 1e15, 9e15, 8_999_999_999_999_999, 9_007_199_254_740_992, 9e15.nextUp,
        .greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
        2.2250738585072014e-308, 1e-7, 123_456.789
    ]

    static func randomValue(_ rng: inout SeededGenerator, depth: Int) -> JSON {
        switch rng.int(0...(depth > 4 ? 3 : 5)) {
        case 0: return .null
        case 1: return .bool(rng.chance(2))
        case 2:
            if rng.chance(2) { return .number(rng.pick(numbers)) }
            // Random finite doubles, including subnormals and the largest magnitudes.
            let d = Double(bitPattern: rng.next())
            return .number(d.isFinite ? d : 0)
        case 3: return .string(randomString(&rng))
        case 4: return .array((0..<rng.int(0...4)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var fields: [String: JSON] = [:]
            for _ in 0..<rng.int(0...4) { fields[randomString(&rng)] = randomValue(&rng, depth: depth + 1) }
            return .object(fields)
        }
    }

    static func mutate(_ bytes: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var b = bytes
        for _ in 0..<rng.int(1...3) {
            let at = rng.int(0...b.count)
            switch rng.int(0...5) {
            case 0: if at < b.count { b[at] ^= UInt8(1) << UInt8(rng.int(0...7)) }
            case 1: if at < b.count { b.remove(at: at) }
            case 2: b.insert(contentsOf: Array(rng.pick(tokens).utf8), at: at)
            case 3: b.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 4: b = Array(b.prefix(at))
            default:
                let end = rng.int(at...b.count)
                b.insert(contentsOf: b[at..<end], at: rng.int(0...b.count))
            }
        }
        return b
    }

    @Test func generatedDocumentsRoundTripAndMutationsNeverTrap() {
        var rng = SeededGenerator(state: 0xD0C5)
        var parsedMutations = 0
        for i in 0..<15_000 {
            let value = Self.randomValue(&rng, depth: 0)
            let text = value.serialized()
            #expect((try? JSON.parse(text)) == value, "\(text.debugDescription) did not parse back, iteration \(i)")
            for _ in 0..<3 where Self.check(Self.mutate(Array(text.utf8), &rng), "mutation, iteration \(i)") {
                parsedMutations += 1
            }
        }
        #expect(parsedMutations > 1_000)
    }

    @Test func deepNestingIsRefusedNotARecursionCrash() {
        for opener in ["[", "{\"a\":", "[{\"a\":"] {
            let text = String(repeating: opener, count: 100_000)
            #expect(throws: JSONParseError.self) { try JSON.parse(text) }
        }
        // Around the limit: either a clean parse that round-trips, or an error; the limit itself holds.
        for n in 1...70 {
            let text = String(repeating: "[", count: n) + String(repeating: "]", count: n)
            #expect(Self.check(Array(text.utf8)) == (n <= JSON.maxDepth), "\(n) levels")
        }
    }

    @Test(arguments: [
        "1e400", "-1e400", "1E+400", "1" + String(repeating: "0", count: 400),
        "-" + String(repeating: "9", count: 400) + ".5"
    ])
    func infiniteNumbersAreRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func tinyAndLongNumbersParseFinite() throws {
        for text in ["1e-400", "-1e-400", "0." + String(repeating: "0", count: 500) + "1", "4.9e-324", "2.4e-324", "1e308"] {
            guard case .number(let d) = try JSON.parse(text) else { Issue.record("\(text) is not a number"); continue }
            #expect(d.isFinite)
            #expect(Self.check(Array(text.utf8)))
        }
    }

    /// Numbers drawn from the grammar's pieces: what parses must be an RFC 8259 number with that value.
    @Test func numbersFollowTheGrammar() {
        var rng = SeededGenerator(state: 0x4E55_4D)
        let pieces = ["-", "+", "0", "1", "9", "00", "07", ".", "5", "e", "E", "+", "-", "400", "308", "x", " "]
        let grammar = try? NSRegularExpression(pattern: "^-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?$")
        for _ in 0..<30_000 {
            let text = (0..<rng.int(1...6)).map { _ in rng.pick(pieces) }.joined()
            guard case .number(let d)? = try? JSON.parse(text) else { continue }
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let range = NSRange(trimmed.startIndex..., in: trimmed)
            #expect(grammar?.firstMatch(in: trimmed, range: range) != nil, "\(text.debugDescription) is not a JSON number")
            #expect(d.isFinite && d == Double(trimmed), "\(text.debugDescription)")
        }
    }

    @Test func invalidUTF8InsideStringsIsRefused() {
        var rng = SeededGenerator(state: 0x0BAD_F00D)
        let bad: [[UInt8]] = [[0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF], [0xF0, 0x9F, 0x98]]
        for _ in 0..<20_000 {
            var inner = Array(Self.randomString(&rng).utf8).filter { $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C }
            inner.insert(contentsOf: rng.pick(bad), at: rng.int(0...inner.count))
            let doc = [0x22] + inner + [0x22]
            #expect(throws: JSONParseError.self) { try JSON.parse(doc) }
            #expect(throws: JSONParseError.self) { try JSON.parse([0x7B] + doc + Array(":1}".utf8)) }
        }
    }

    /// `\uXXXX` escapes: accepted exactly when they name a scalar (a pair for astral planes), and decoded to it.
    @Test func unicodeEscapesAndLoneSurrogates() {
        var rng = SeededGenerator(state: 0x5355_5252)
        let interesting: [UInt32] = [0, 0x41, 0x7F, 0xFF, 0xD7FF, 0xD800, 0xDBFF, 0xDC00, 0xDFFF, 0xE000, 0xFFFD, 0xFFFF, 0xD83D, 0xDE00]
        for _ in 0..<40_000 {
            let units = (0..<rng.int(1...3)).map { _ in rng.chance(2) ? rng.pick(interesting) : UInt32(rng.int(0...0xFFFF)) }
            let text = "\"" + units.map { String(format: rng.chance(2) ? "\\u%04x" : "\\u%04X", $0) }.joined() + "\""
            var expected: String? = ""
            var i = 0
            while i < units.count, expected != nil {
                let u = units[i]
                if (0xD800...0xDBFF).contains(u), i + 1 < units.count, (0xDC00...0xDFFF).contains(units[i + 1]) {
                    expected?.unicodeScalars.append(Unicode.Scalar(0x10000 + ((u - 0xD800) << 10) + (units[i + 1] - 0xDC00))!)
                    i += 2
                } else if let scalar = Unicode.Scalar(u) {
                    expected?.unicodeScalars.append(scalar)
                    i += 1
                } else {
                    expected = nil
                }
            }
            let got = (try? JSON.parse(text))?.stringValue
            // Compared scalar by scalar: String equality would let canonically equivalent text pass.
            #expect(
                got.map { Array($0.unicodeScalars) } == expected.map { Array($0.unicodeScalars) },
                "\(text) gave \(got.debugDescription), expected \(expected.debugDescription)")
            if got != nil { Self.check(Array(text.utf8)) }
        }
    }
}

@Suite struct JSONRegressionTests {
    /// Found by `numbersFollowTheGrammar`: leading zeros were read as decimal numbers.
    @Test(arguments: ["01", "-01", "00", "007", "[01]", "{\"a\":00.5}"])
    func leadingZerosAreRefused(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test(arguments: ["0", "-0", "0.5", "-0.5e3", "0e1", "10", "100.001"])
    func zeroItselfStillParses(_ text: String) throws {
        #expect(try JSON.parse(text).serialized() == JSON.number(Double(text) ?? .nan).serialized())
    }
}
