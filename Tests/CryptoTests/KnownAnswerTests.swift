import Crypto
import Support
import Testing

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var chars = Array(hex.filter { !$0.isWhitespace })
    while chars.count >= 2 {
        out.append(UInt8(String(chars[0...1]), radix: 16)!)
        chars.removeFirst(2)
    }
    return out
}

@Suite struct KnownAnswerTests {
    @Test func scryptRFC7914Vector() throws {
        let out = try KDF.scrypt(password: Array("password".utf8), salt: Array("NaCl".utf8), logN: 10, r: 8, p: 16, length: 64)
        #expect(
            Encoding.hex(out)
                == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622"
                + "eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        )
    }

    @Test func hkdfRFC5869CaseOne() throws {
        let okm = try KDF.hkdfSHA256(
            key: [UInt8](repeating: 0x0b, count: 22), salt: hexBytes("000102030405060708090a0b0c"),
            info: hexBytes("f0f1f2f3f4f5f6f7f8f9"), length: 42)
        #expect(Encoding.hex(okm) == "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    }

    @Test func hmacRFC4231CaseTwo() {
        let mac = Digest.hmacSHA256(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(Encoding.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func sha256OfABC() {
        #expect(Encoding.hex(Digest.sha256("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}

@Suite struct PasswordHasherTests {
    let fast = PasswordHasher(logN: 10, r: 8, p: 1)

    @Test func verifiesOnlyTheRightPassword() throws {
        let stored = try fast.hash("correct horse battery staple")
        #expect(stored.hasPrefix("scrypt$10$8$1$"))
        #expect(!stored.contains("correct horse"))
        #expect(PasswordHasher.verify("correct horse battery staple", against: stored))
        #expect(!PasswordHasher.verify("correct horse battery stapl", against: stored))
        #expect(try fast.hash("same") != fast.hash("same"), "salts must differ")
    }

    @Test(arguments: ["", "scrypt$10$8$1$AAAA", "bcrypt$10$8$1$AAAA$BBBB", "scrypt$40$8$1$AAAA$BBBB", "scrypt$x$8$1$AAAA$BBBB"])
    func malformedHashesNeverVerify(_ stored: String) {
        #expect(!PasswordHasher.verify("anything", against: stored))
    }

    @Test func randomBytesDiffer() {
        #expect(Random.bytes(32) != Random.bytes(32))
        #expect(Random.bytes(7).count == 7)
    }
}
