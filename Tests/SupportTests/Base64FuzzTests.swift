import Foundation
import Support
import TestSupport
import Testing

/// Seeded fuzzing of `Encoding.fromBase64`, which reads every stored ciphertext and password hash.
@Suite struct Base64FuzzTests {
    @Test func encodingsDecodeBackToTheirBytes() {
        var rng = SeededGenerator(state: 0xB64)
        for _ in 0..<30_000 {
            let bytes = rng.bytes(rng.int(0...40))
            #expect(Encoding.fromBase64(Encoding.base64(bytes)) == bytes)
            #expect(Encoding.fromBase64(Encoding.base64url(bytes)) == bytes)
            // Standard alphabet without padding is accepted too (documented).
            #expect(Encoding.fromBase64(Encoding.base64(bytes).replacingOccurrences(of: "=", with: "")) == bytes)
        }
    }

    /// The hand-written base64url spells exactly what Foundation's encoder did after its three
    /// replacements (every stored envelope was written that way).
    @Test func base64urlMatchesFoundationsSpelling() {
        var rng = SeededGenerator(state: 0x64_0014)
        for _ in 0..<20_000 {
            let bytes = rng.bytes(rng.int(0...70))
            let foundation = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Encoding.base64url(bytes) == foundation)
        }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededGenerator(state: 0xFEED)
        for _ in 0..<50_000 {
            let input = rng.bytes(rng.int(0...24))
            if let out = Encoding.fromBase64(utf8: input) { #expect(out.count <= input.count * 3 / 4) }
        }
    }

    /// Random strings over the shared alphabet, compared with Foundation: where one accepts, so
    /// does the other with the same bytes, once padding is made canonical for Foundation.
    @Test func agreesWithFoundation() {
        var rng = SeededGenerator(state: 0xF0_0DA7)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var accepted = 0
        for _ in 0..<50_000 {
            var chars = (0..<rng.int(0...16)).map { _ in rng.pick(alphabet) }
            for _ in 0..<rng.int(0...2) where rng.chance(2) {
                chars.insert("=", at: rng.chance(2) ? chars.count : rng.int(0...chars.count))
            }
            let text = String(chars)
            let ours = Encoding.fromBase64(text)
            // Foundation ignores non-zero leftover bits ("Y1m="); compare only its canonical readings.
            if let theirs = Data(base64Encoded: text), theirs.base64EncodedString() == text {
                #expect(ours == Array(theirs), "\(text)")
            }
            guard let ours else { continue }
            accepted += 1
            let stripped = text.replacingOccurrences(of: "=", with: "")
            let padded = stripped + String(repeating: "=", count: (4 - stripped.count % 4) % 4)
            #expect(Data(base64Encoded: padded).map(Array.init) == ours, "\(text) accepted but \(padded) is not the same for Foundation")
            // Padding, when present, is the exact amount: any other spelling is a second encoding of the same bytes.
            #expect(!text.contains("=") || text == padded, "\(text) accepted with wrong padding")
        }
        #expect(accepted > 5_000)
    }

    @Test(arguments: ["QQ=", "QUFB==", "QUFB=", "=", "==", "QUE==", "QQ===", "QR==", "Q", "QUFBQ"])
    func wrongPaddingAndLeftoverBitsAreRefused(_ text: String) {
        #expect(Encoding.fromBase64(text) == nil)
    }

    @Test(arguments: [("QQ==", [0x41]), ("QQ", [0x41]), ("QUE=", [0x41, 0x41]), ("QUE", [0x41, 0x41]), ("", []), ("-_8", [0xFB, 0xFF])])
    func canonicalFormsDecode(_ text: String, _ bytes: [UInt8]) {
        #expect(Encoding.fromBase64(text) == bytes)
    }
}
