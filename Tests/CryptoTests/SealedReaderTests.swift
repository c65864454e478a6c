import Crypto
import Foundation
import Support
import Testing

/// The blob form of envelopes and the per-thread reader that opens them.
@Suite struct SealedReaderTests {
    let keyA = String(repeating: "a", count: 40)
    let keyB = String(repeating: "b", count: 40)

    func open(_ blob: [UInt8], _ ring: Keyring, place: String, purpose: KeyPurpose = .transcript) throws(EnvelopeError) -> String {
        var place = place
        let result = place.withUTF8 { p in
            blob.withUnsafeBytes { b in
                Result { () throws(EnvelopeError) -> String in
                    String(
                        decoding: try SealedReader.forThisThread().open(blob: b, keyring: ring, purpose: purpose, place: p), as: UTF8.self)
                }
            }
        }
        return try result.get()
    }

    @Test func blobAndTextFormsSpellTheSameEnvelope() throws {
        let ring = Keyring(current: keyA, previous: [])
        for text in ["", "x", "héllo 😀", String(repeating: "long ", count: 5000)] {
            let envelope = try ring.seal(text, purpose: .transcript, place: "message/1/content")
            let blob = try #require(SealedBlob.fromEnvelope(envelope))
            #expect(blob.count < envelope.utf8.count)
            #expect(SealedBlob.envelope(blob) == envelope)
            #expect(try open(blob, ring, place: "message/1/content") == text)
        }
        #expect(SealedBlob.fromEnvelope("not an envelope") == nil)
        #expect(SealedBlob.envelope([1, 2, 3]) == nil)
    }

    @Test func opensPreviousKeysAndRefusesWrongPlacesKeysAndChanges() throws {
        let old = Keyring(current: keyB, previous: [])
        let ring = Keyring(current: keyA, previous: [keyB])
        let blob = try #require(SealedBlob.fromEnvelope(try old.seal("from before", purpose: .transcript, place: "chat/3/title")))
        #expect(try open(blob, ring, place: "chat/3/title") == "from before")
        #expect(throws: EnvelopeError.authenticationFailed) { try open(blob, ring, place: "chat/4/title") }
        #expect(throws: EnvelopeError.authenticationFailed) { try open(blob, ring, place: "chat/3/title", purpose: .artifact) }
        #expect(throws: EnvelopeError.self) { try open(blob, Keyring(current: keyA, previous: []), place: "chat/3/title") }
        #expect(throws: EnvelopeError.self) { try open(blob, Keyring(current: nil, previous: []), place: "chat/3/title") }
        for i in 0..<blob.count {
            var changed = blob
            changed[i] ^= 0x01
            #expect(throws: EnvelopeError.self) { try open(changed, ring, place: "chat/3/title") }
        }
        #expect(throws: EnvelopeError.malformed) { try open(Array(blob.prefix(20)), ring, place: "chat/3/title") }
    }

    @Test func eachThreadHasItsOwnReader() throws {
        let ring = Keyring(current: keyA, previous: [])
        let blob = try #require(SealedBlob.fromEnvelope(try ring.seal("shared", purpose: .transcript, place: "p")))
        let here = ObjectIdentifier(SealedReader.forThisThread())
        #expect(ObjectIdentifier(SealedReader.forThisThread()) == here)
        let results = Locked<[String]>([])
        let ids = Locked<[ObjectIdentifier]>([])
        let threads = (0..<4).map { _ in
            Thread {
                ids.update { $0.append(ObjectIdentifier(SealedReader.forThisThread())) }
                for _ in 0..<200 { if let text = try? open(blob, ring, place: "p") { results.update { $0.append(text) } } }
            }
        }
        threads.forEach { $0.start() }
        for _ in 0..<400 where results.value.count < 800 { Thread.sleep(forTimeInterval: 0.01) }
        #expect(results.value.count == 800 && results.value.allSatisfy { $0 == "shared" })
        #expect(!ids.value.contains(here))
    }

    @Test func envelopeOpenerStillOpensTextEnvelopes() throws {
        let ring = Keyring(current: keyA, previous: [keyB])
        let opener = EnvelopeOpener(keyring: ring, purpose: .transcript)
        let current = try ring.seal("now", purpose: .transcript, place: "x")
        let previous = try Keyring(current: keyB, previous: []).seal("then", purpose: .transcript, place: "x")
        #expect(try opener.openString(current, place: "x") == "now")
        #expect(try opener.openString(previous, place: "x") == "then")
        #expect(throws: EnvelopeError.malformed) { try opener.openString("ct1.zz", place: "x") }
        #expect(throws: EnvelopeError.authenticationFailed) { try opener.openString(current, place: "y") }
    }
}

/// A value shared with test threads.
final class Locked<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T { lock.withLock { stored } }
    func update(_ body: (inout T) -> Void) { lock.withLock { body(&stored) } }
}
