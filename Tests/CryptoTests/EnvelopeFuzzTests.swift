import Crypto
import Support
import TestSupport
import Testing

/// Seeded fuzzing of the stored-secret envelope: whatever is read back from the database or an
/// import file, only the exact string `seal` wrote may open.
@Suite struct EnvelopeFuzzTests {
    static let current = String(repeating: "c", count: 40)
    static let old = String(repeating: "o", count: 40)
    static let ring = Keyring(current: current, previous: [old])
    static let base64url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    static func mutate(_ envelope: String, _ rng: inout SeededGenerator) -> String {
        var chars = Array(envelope)
        let payloadStart = Keyring.prefix.count + 9
        switch rng.int(0...9) {
        case 0:  // another payload character
            let i = rng.int(payloadStart...(chars.count - 1))
            chars[i] = rng.pick(base64url)
        case 1: chars = Array(chars.prefix(rng.int(0...(chars.count - 1))))  // truncated
        case 2: chars += Array(rng.pick(["=", "==", "A", "AA", "AAAA", "\n", " ", "\0", "."]))  // appended
        case 3:  // another key id: random hex, the previous key's, or a letter out of the alphabet
            let id = rng.pick([Keyring.keyID(old), Keyring.keyID("x"), Keyring.keyID(current).uppercased(), "0000000g", "1234567"])
            chars = Array(Keyring.prefix + id + "." + String(chars[payloadStart...]))
        case 4:  // the same bytes spelled in the other base64 alphabet
            chars = chars.enumerated().map { i, c in i < payloadStart ? c : c == "-" ? "+" : c == "_" ? "/" : c }
            if !chars.contains("+") && !chars.contains("/") { chars += ["="] }
        case 5: chars = Array(rng.pick(["ct2.", "CT1.", "ct1", "ct1..", ""]) + String(chars.dropFirst(Keyring.prefix.count)))
        case 6:  // one bit of one character
            let i = rng.int(0...(chars.count - 1))
            if let ascii = chars[i].asciiValue { chars[i] = Character(Unicode.Scalar(ascii ^ (1 << UInt8(rng.int(0...6))))) }
        case 7: chars.insert(rng.pick(["=", "-", "A", "é", "."]), at: rng.int(0...chars.count))  // inserted
        case 8: chars.remove(at: rng.int(payloadStart...(chars.count - 1)))  // deleted
        default:  // two payload characters swapped
            let i = rng.int(payloadStart...(chars.count - 1)), j = rng.int(payloadStart...(chars.count - 1))
            chars.swapAt(i, j)
        }
        return String(chars)
    }

    @Test func mutatedEnvelopesNeverOpen() throws {
        var rng = SeededGenerator(state: 0xAEAD)
        let opener = EnvelopeOpener(keyring: Self.ring, purpose: .configSecret)
        var refused = 0
        for i in 0..<4_000 {
            let plaintext = rng.bytes(rng.int(0...48))
            let place = "connection/\(rng.int(0...9))/api_key"
            let ring = rng.chance(4) ? Keyring(current: Self.old, previous: []) : Self.ring
            let sealed = try ring.seal(plaintext, purpose: .configSecret, place: place)
            #expect(try Self.ring.open(sealed, purpose: .configSecret, place: place) == plaintext)
            for _ in 0..<5 {
                let mutated = Self.mutate(sealed, &rng)
                guard mutated != sealed else { continue }
                refused += 1
                do {
                    let opened = try Self.ring.open(mutated, purpose: .configSecret, place: place)
                    Issue.record("iteration \(i): \(mutated.debugDescription) opened to \(opened.count) bytes")
                } catch {}
                #expect(throws: EnvelopeError.self, "\(mutated.debugDescription)") {
                    try opener.openString(mutated, place: place)
                }
            }
        }
        #expect(refused > 15_000)
    }

    @Test func randomStringsNeverOpen() {
        var rng = SeededGenerator(state: 0x5EED)
        let opener = EnvelopeOpener(keyring: Self.ring, purpose: .transcript)
        let idCurrent = Keyring.keyID(Self.current)
        for _ in 0..<30_000 {
            var text = rng.chance(2) ? Keyring.prefix + (rng.chance(2) ? idCurrent : Keyring.keyID("k\(rng.int(0...3))")) + "." : ""
            for _ in 0..<rng.int(0...60) {
                text.append(rng.chance(10) ? rng.pick(["=", ".", "+", "/", "é", "\0"]) : rng.pick(Self.base64url))
            }
            _ = Keyring.isEnvelope(text)
            _ = Keyring.keyID(ofEnvelope: text)
            #expect(throws: EnvelopeError.self) { try Self.ring.open(text, purpose: .transcript, place: "p") }
            #expect(throws: EnvelopeError.self) { try opener.openString(text, place: "p") }
        }
    }

    /// Found by `mutatedEnvelopesNeverOpen`: other spellings of the same payload bytes opened.
    @Test func otherSpellingsOfThePayloadAreNotEnvelopes() throws {
        var rng = SeededGenerator(state: 0x0DD)
        for _ in 0..<200 {
            let sealed = try Self.ring.seal(rng.bytes(rng.int(0...20)), purpose: .export, place: "p")
            let standard = sealed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            for other in [sealed + "=", sealed + "==", standard] where other != sealed {
                #expect(!Keyring.isEnvelope(other), "\(other)")
                #expect(throws: EnvelopeError.malformed) { try Self.ring.open(other, purpose: .export, place: "p") }
            }
        }
    }
}
