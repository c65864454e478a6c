import Support
import TestSupport
import Testing

@testable import Crypto

/// libsodium opens what OpenSSL seals, refuses what OpenSSL refuses, and gives the same bytes.
@Suite struct SodiumGCMTests {
    @Test func thisMachineOpensWithLibsodium() {
        // The benchmark figures in docs/architecture.md assume it; a CPU without AES-NI falls back.
        #expect(SealedReader.backend == "libsodium")
    }

    @Test func agreesWithOpenSSLOnRandomValues() throws {
        guard SodiumGCMOpener.available else { return }
        var g = SeededGenerator(state: 0x50D1)
        for _ in 0..<500 {
            let key = g.bytes(32)
            let nonce = g.bytes(12)
            let plaintext = g.bytes(g.int(0...300))
            let aad = g.bytes(g.int(0...40))
            let sealed = try AESGCM.seal(key: key, nonce: nonce, plaintext: plaintext, aad: aad)
            let payload = nonce + sealed.ciphertext + sealed.tag
            let sodium = try #require(SodiumGCMOpener(key: key))
            let openssl = try #require(AESGCMOpener(key: key))
            #expect(open(sodium, payload, aad) == plaintext)
            #expect(open(openssl, payload, aad) == plaintext)
            var changed = payload
            changed[g.int(0...(changed.count - 1))] ^= UInt8(1 << g.int(0...7))
            #expect(open(sodium, changed, aad) == nil)
            #expect(open(openssl, changed, aad) == nil)
            #expect(open(sodium, payload, aad + [0]) == nil)
        }
    }

    /// NIST GCM specification, test case 16 (AES-256, with AAD), opened by libsodium.
    @Test func nistTestCase16() throws {
        guard SodiumGCMOpener.available else { return }
        let key = hexBytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = hexBytes("cafebabefacedbaddecaf888")
        let ciphertext = hexBytes(
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10568288"
                + "38c5f61e6393ba7a0abcc9f662")
        let tag = hexBytes("76fc6ece0f4e1768cddf8853bb2d551b")
        let aad = hexBytes("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let plaintext = hexBytes(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
                + "b16aedf5aa0de657ba637b39")
        #expect(open(try #require(SodiumGCMOpener(key: key)), nonce + ciphertext + tag, aad) == plaintext)
    }

    func open(_ opener: any GCMOpening, _ payload: [UInt8], _ aad: [UInt8]) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: payload.count + 16)
        let count = payload.withUnsafeBytes { p in
            aad.withUnsafeBufferPointer { a in
                out.withUnsafeMutableBufferPointer { o in o.baseAddress.flatMap { opener.open(payload: p, aad: a, into: $0) } }
            }
        }
        return count.map { Array(out.prefix($0)) }
    }
}
