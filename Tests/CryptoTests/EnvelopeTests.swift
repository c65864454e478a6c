import Crypto
import Support
import Testing

@Suite struct AESGCMVectorTests {
    /// NIST GCM specification, test case 13 (AES-256, zero key, empty plaintext) and 16 (with AAD).
    @Test func nistTestCases() throws {
        let zero = try AESGCM.seal(key: [UInt8](repeating: 0, count: 32), nonce: [UInt8](repeating: 0, count: 12), plaintext: [], aad: [])
        #expect(Encoding.hex(zero.tag) == "530f8afbc74536b9a963b4f1c4cb738b")

        let key = hexBytes("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
        let nonce = hexBytes("cafebabefacedbaddecaf888")
        let plaintext = hexBytes(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
        let aad = hexBytes("feedfacedeadbeeffeedfacedeadbeefabaddad2")
        let sealed = try AESGCM.seal(key: key, nonce: nonce, plaintext: plaintext, aad: aad)
        #expect(
            Encoding.hex(sealed.ciphertext)
                == "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                + "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"
        )
        #expect(Encoding.hex(sealed.tag) == "76fc6ece0f4e1768cddf8853bb2d551b")
        #expect(try AESGCM.open(key: key, nonce: nonce, ciphertext: sealed.ciphertext, tag: sealed.tag, aad: aad) == plaintext)
    }
}

@Suite struct EnvelopeTests {
    let keyA = String(repeating: "a", count: 40)
    let keyB = String(repeating: "b", count: 40)

    @Test func sealsWithFreshNoncesAndOpensAtTheSamePlace() throws {
        let ring = Keyring(current: keyA, previous: [])
        let one = try ring.seal("sk-secret-value-1234", purpose: .configSecret, place: "connection/1/api_key")
        let two = try ring.seal("sk-secret-value-1234", purpose: .configSecret, place: "connection/1/api_key")
        #expect(one != two)
        #expect(one.hasPrefix("ct1.\(Keyring.keyID(keyA))."))
        #expect(!one.contains("secret-value"))
        #expect(try ring.openString(one, purpose: .configSecret, place: "connection/1/api_key") == "sk-secret-value-1234")
    }

    @Test func aFlippedBitFailsToOpen() throws {
        let ring = Keyring(current: keyA, previous: [])
        let sealed = try ring.seal("secret", purpose: .configSecret, place: "p")
        var chars = Array(sealed)
        let i = chars.count - 5
        chars[i] = chars[i] == "A" ? "B" : "A"
        #expect(throws: EnvelopeError.authenticationFailed) { try ring.open(String(chars), purpose: .configSecret, place: "p") }
    }

    @Test func aMovedValueFailsToOpen() throws {
        let ring = Keyring(current: keyA, previous: [])
        let sealed = try ring.seal("secret", purpose: .configSecret, place: "connection/1/api_key")
        #expect(throws: EnvelopeError.authenticationFailed) { try ring.open(sealed, purpose: .configSecret, place: "connection/2/api_key") }
        #expect(throws: EnvelopeError.authenticationFailed) { try ring.open(sealed, purpose: .transcript, place: "connection/1/api_key") }
    }

    @Test func wrongOrUnknownKeyIsReportedNotUsed() throws {
        let sealed = try Keyring(current: keyA, previous: []).seal("secret", purpose: .configSecret, place: "p")
        #expect(throws: EnvelopeError.unknownKey(Keyring.keyID(keyA))) {
            try Keyring(current: keyB, previous: []).open(sealed, purpose: .configSecret, place: "p")
        }
        // After rotation the old key, listed as previous, still reads it.
        let rotated = Keyring(current: keyB, previous: [keyA])
        #expect(try rotated.openString(sealed, purpose: .configSecret, place: "p") == "secret")
        #expect(throws: EnvelopeError.malformed) { try rotated.open("plaintext-looking", purpose: .configSecret, place: "p") }
        #expect(throws: EnvelopeError.noKey) { try Keyring(current: nil, previous: []).seal("x", purpose: .configSecret, place: "p") }
    }
}

@Suite struct EnvelopeOpenerTests {
    @Test func opensManyValuesAndStillRefusesTamperingAndMoves() throws {
        let old = String(repeating: "o", count: 40)
        let new = String(repeating: "n", count: 40)
        let ring = Keyring(current: new, previous: [old])
        let opener = EnvelopeOpener(keyring: ring, purpose: .transcript)
        for i in 0..<50 {
            let sealed = try ring.seal("message \(i)", purpose: .transcript, place: "message/\(i)/content")
            #expect(try opener.openString(sealed, place: "message/\(i)/content") == "message \(i)")
            #expect(throws: EnvelopeError.authenticationFailed) { try opener.openString(sealed, place: "message/\(i + 1)/content") }
        }
        let sealed = try ring.seal("x", purpose: .transcript, place: "p")
        var chars = Array(sealed)
        chars[chars.count - 3] = chars[chars.count - 3] == "A" ? "B" : "A"
        #expect(throws: EnvelopeError.authenticationFailed) { try opener.openString(String(chars), place: "p") }
        // Made with the previous key: read through the ordinary path.
        let older = try Keyring(current: old, previous: []).seal("from before", purpose: .transcript, place: "p")
        #expect(try opener.openString(older, place: "p") == "from before")
        #expect(throws: EnvelopeError.self) { try opener.openString(try ring.seal("x", purpose: .configSecret, place: "p"), place: "p") }
    }
}
