import Support
import TestSupport
import Testing

/// Seeded fuzzing of the SSE reader: upstream bytes arrive in whatever chunks the network makes.
@Suite struct SSEFuzzTests {
    static let lines: [String] = [
        "data: hello", "data:x", "data:", "data: ", "data:  two spaces", "data: {\"a\":1}", "data: é😀", "event: message", "id: 7",
        "retry: 10", ": keep-alive", ":", "", "", "", "data", "DATA: no", " data: indented", "data: a\rb", "data: [DONE]", "\r"
    ]

    static func stream(_ rng: inout SeededGenerator) -> [UInt8] {
        var bytes: [UInt8] = []
        for _ in 0..<rng.int(0...16) {
            if rng.chance(8) {
                // A line of raw bytes, possibly invalid UTF-8 or carrying a stray CR.
                bytes += Array("data: ".utf8) + rng.bytes(rng.int(0...6)).filter { $0 != 0x0A }
            } else {
                bytes += Array(rng.pick(lines).utf8)
            }
            bytes += rng.chance(2) ? [0x0D, 0x0A] : [0x0A]
        }
        if rng.chance(3) { bytes += Array("data: unfinished".utf8) }
        return bytes
    }

    @Test func chunkBoundariesNeverChangeThePayloads() {
        var rng = SeededGenerator(state: 0x55E)
        var total = 0
        // 3,000 streams: the parser re-reads an unfinished event on every feed, so byte-sized chunks cost n².
        for i in 0..<3_000 {
            let bytes = Self.stream(&rng)
            var whole = SSEDataParser()
            let expected = whole.feed(bytes)
            total += expected.count

            var chunked = SSEDataParser()
            var got: [String] = []
            var at = 0
            let maxChunk = rng.pick([1, 2, 3, 7, 64])
            while at < bytes.count {
                let end = min(bytes.count, at + rng.int(0...maxChunk))
                got += chunked.feed(Array(bytes[at..<end]))
                at = end
            }
            got += chunked.feed([])
            #expect(got == expected, "iteration \(i): \(String(decoding: bytes, as: UTF8.self).debugDescription)")
        }
        #expect(total > 2_000, "the streams should carry events")
    }

    @Test func randomBytesNeverTrapAndSplitTheSameWay() {
        var rng = SeededGenerator(state: 0xB17E5)
        for i in 0..<20_000 {
            let bytes = rng.bytes(rng.int(0...96)).map { rng.chance(5) ? rng.pick([0x0A, 0x0D, 0x3A, 0x64]) : $0 }
            var whole = SSEDataParser()
            let expected = whole.feed(bytes)
            var split = SSEDataParser()
            let cut = rng.int(0...bytes.count)
            let got = split.feed(Array(bytes[..<cut])) + split.feed(Array(bytes[cut...]))
            #expect(got == expected, "iteration \(i), cut at \(cut): \(bytes)")
        }
    }
}
