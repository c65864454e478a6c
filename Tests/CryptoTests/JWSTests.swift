import Crypto
import Foundation
import Support
import TestSupport
import Testing

/// Keys and signatures made by the `openssl` command line (not by the code under test), so the
/// verifier is checked against an independent signer.
final class OpenSSLSigner: Sendable {
    let directory: URL
    let kind: String  // "RSA" or "EC"
    let jwk: [String: JSON]
    let kid: String

    init(kind: String, kid: String) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("jws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.kind = kind
        self.kid = kid
        let pem = directory.appendingPathComponent("key.pem").path
        if kind == "RSA" {
            _ = try Self.run(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", pem])
            let modulus = String(decoding: try Self.run(["rsa", "-in", pem, "-noout", "-modulus"]), as: UTF8.self)
            let hex = modulus.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "Modulus=", with: "")
            jwk = ["kty": "RSA", "kid": .string(kid), "use": "sig", "n": .string(Base64URL.encode(Self.bytes(hex: hex))), "e": "AQAB"]
        } else {
            _ = try Self.run(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", pem])
            let der = try Self.run(["pkey", "-in", pem, "-pubout", "-outform", "DER"])
            let point = Array(der.suffix(65))
            jwk = [
                "kty": "EC", "kid": .string(kid), "crv": "P-256", "x": .string(Base64URL.encode(Array(point[1...32]))),
                "y": .string(Base64URL.encode(Array(point[33...64])))
            ]
        }
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var publicPEM: [UInt8] {
        (try? Self.run(["pkey", "-in", directory.appendingPathComponent("key.pem").path, "-pubout"])) ?? []
    }

    static func bytes(hex: String) -> [UInt8] {
        var out: [UInt8] = []
        var chars = Array(hex)
        if chars.count % 2 == 1 { chars.insert("0", at: 0) }
        for i in stride(from: 0, to: chars.count, by: 2) { out.append(UInt8(String(chars[i...i + 1]), radix: 16) ?? 0) }
        return out
    }

    @discardableResult
    static func run(_ arguments: [String], input: [UInt8]? = nil) throws -> [UInt8] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let out = Pipe()
        let inPipe = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(Data(input)) }
        try inPipe.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw JWSError("openssl \(arguments.first ?? "") failed") }
        return Array(data)
    }

    /// A compact JWS over `header` and `claims` (JSON text, as written), signed by openssl.
    func sign(header: String, claims: String) throws -> String {
        let input = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let pem = directory.appendingPathComponent("key.pem").path
        var signature = try Self.run(["dgst", "-sha256", "-sign", pem], input: Array(input.utf8))
        if kind == "EC" { signature = Self.raw(der: signature) }
        return input + "." + Base64URL.encode(signature)
    }

    /// DER `SEQUENCE { INTEGER r, INTEGER s }` to r || s, 32 bytes each.
    static func raw(der: [UInt8]) -> [UInt8] {
        var i = 2
        var out: [UInt8] = []
        for _ in 0..<2 {
            let length = Int(der[i + 1])
            var value = Array(der[(i + 2)..<(i + 2 + length)])
            while value.count > 32 && value.first == 0 { value.removeFirst() }
            out += [UInt8](repeating: 0, count: 32 - value.count) + value
            i += 2 + length
        }
        return out
    }
}

@Suite(.serialized) struct JWSTests {
    static let rsa = try? OpenSSLSigner(kind: "RSA", kid: "rsa-1")
    static let ec = try? OpenSSLSigner(kind: "EC", kid: "ec-1")
    static let other = try? OpenSSLSigner(kind: "RSA", kid: "rsa-1")  // same kid, another key
    static let now: Int64 = 1_800_000_000
    static let expect = IDTokenClaims.Expectation(issuer: "https://idp.example", clientID: "cryotensor", nonce: "n-0S6_WzA2Mj", now: now)

    static func claims(_ changes: [String: JSON] = [:], drop: [String] = []) -> String {
        var c: [String: JSON] = [
            "iss": "https://idp.example", "aud": "cryotensor", "sub": "248289761001", "exp": JSON(Int(now) + 300),
            "iat": JSON(Int(now) - 5), "nonce": "n-0S6_WzA2Mj", "email": "jane@example.com", "email_verified": true
        ]
        for (k, v) in changes { c[k] = v }
        for k in drop { c[k] = nil }
        return JSON.object(c).serialized()
    }

    static func keys(_ signers: [OpenSSLSigner?]) throws -> JWKSet {
        try JWKSet.parse(Array(JSON.object(["keys": .array(signers.compactMap { $0.map { .object($0.jwk) } })]).serialized().utf8))
    }

    @Test func validRS256AndES256TokensVerify() throws {
        let rsa = try #require(Self.rsa), ec = try #require(Self.ec)
        let set = try Self.keys([rsa, ec])
        #expect(set.keys.count == 2)
        let t1 = try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#, claims: Self.claims())
        let c1 = try IDTokenClaims.verify(t1, keys: set, expect: Self.expect)
        #expect(c1.subject == "248289761001" && c1.emailVerified && c1.email == "jane@example.com")
        let t2 = try ec.sign(header: #"{"alg":"ES256","kid":"ec-1"}"#, claims: Self.claims())
        #expect(try IDTokenClaims.verify(t2, keys: set, expect: Self.expect).subject == "248289761001")
    }

    static func refused(_ token: String, _ set: JWKSet, _ expect: IDTokenClaims.Expectation = JWSTests.expect) -> String? {
        do {
            _ = try IDTokenClaims.verify(token, keys: set, expect: expect)
            return nil
        } catch { return error.reason }
    }

    @Test func forgedTokensAreRefused() throws {
        let rsa = try #require(Self.rsa), ec = try #require(Self.ec), other = try #require(Self.other)
        let set = try Self.keys([rsa, ec])
        let header = #"{"alg":"RS256","kid":"rsa-1"}"#
        // Signed by another key under the provider's kid.
        #expect(Self.refused(try other.sign(header: header, claims: Self.claims()), set) == "signature does not verify")
        // alg none, with and without a signature part.
        let unsigned = Base64URL.encode(Array(#"{"alg":"none"}"#.utf8)) + "." + Base64URL.encode(Array(Self.claims().utf8))
        #expect(Self.refused(unsigned + ".", set)?.contains("not accepted") == true)
        #expect(Self.refused(unsigned, set) != nil)
        // HS256 keyed with the provider's public key (key confusion).
        let hsInput = Base64URL.encode(Array(#"{"alg":"HS256","kid":"rsa-1"}"#.utf8)) + "." + Base64URL.encode(Array(Self.claims().utf8))
        let mac = Digest.hmacSHA256(key: rsa.publicPEM, data: Array(hsInput.utf8))
        #expect(Self.refused(hsInput + "." + Base64URL.encode(mac), set)?.contains("not accepted") == true)
        // An RS256 header on the EC key's kid, and ES256 on the RSA key's kid.
        #expect(Self.refused(try rsa.sign(header: #"{"alg":"RS256","kid":"ec-1"}"#, claims: Self.claims()), set) == "no key for this kid")
        #expect(Self.refused(try ec.sign(header: #"{"alg":"ES256","kid":"rsa-1"}"#, claims: Self.claims()), set) == "no key for this kid")
        // Unknown kid.
        #expect(Self.refused(try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-2"}"#, claims: Self.claims()), set) == "no key for this kid")
        // Payload swapped after signing.
        let good = try rsa.sign(header: header, claims: Self.claims())
        let parts = good.split(separator: ".").map(String.init)
        let swapped = parts[0] + "." + Base64URL.encode(Array(Self.claims(["sub": "1"]).utf8)) + "." + parts[2]
        #expect(Self.refused(swapped, set) == "signature does not verify")
        // crit, a foreign typ, an embedded jwk are not trusted.
        #expect(Self.refused(try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-1","crit":["exp"]}"#, claims: Self.claims()), set) != nil)
        #expect(Self.refused(try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}"#, claims: Self.claims()), set) != nil)
        let embedded = #"{"alg":"RS256","jwk":\#(JSON.object(other.jwk).serialized())}"#
        #expect(Self.refused(try other.sign(header: embedded, claims: Self.claims()), set) != nil)
    }

    @Test func claimsAreChecked() throws {
        let rsa = try #require(Self.rsa)
        let set = try Self.keys([rsa])
        func token(_ changes: [String: JSON] = [:], drop: [String] = []) throws -> String {
            try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-1"}"#, claims: Self.claims(changes, drop: drop))
        }
        #expect(Self.refused(try token(["exp": JSON(Int(Self.now) - 61)]), set) == "token expired")
        #expect(Self.refused(try token(["exp": JSON(Int(Self.now) - 30)]), set) == nil)  // within the leeway
        #expect(Self.refused(try token(drop: ["exp"]), set) == "exp is missing")
        #expect(Self.refused(try token(["exp": "soon"]), set) == "exp is not a time")
        #expect(Self.refused(try token(["iat": JSON(Int(Self.now) + 3600)]), set) == "iat is in the future")
        #expect(Self.refused(try token(["iat": JSON(Int(Self.now) - 86400)]), set) == "iat is too old")
        #expect(Self.refused(try token(["nbf": JSON(Int(Self.now) + 3600)]), set) == "token not yet valid")
        #expect(Self.refused(try token(["nonce": "another"]), set) == "nonce does not match this sign-in")
        #expect(Self.refused(try token(drop: ["nonce"]), set) == "nonce does not match this sign-in")
        #expect(Self.refused(try token(["iss": "https://idp.example/"]), set) == "iss is not the configured issuer")
        #expect(Self.refused(try token(["iss": "https://evil.example"]), set) == "iss is not the configured issuer")
        #expect(Self.refused(try token(["aud": "another-client"]), set) == "aud does not name this client")
        #expect(Self.refused(try token(["aud": ["cryotensor", "other"]]), set) == "several audiences and no azp")
        #expect(Self.refused(try token(["aud": ["cryotensor", "other"], "azp": "cryotensor"]), set) == nil)
        #expect(Self.refused(try token(["azp": "other"]), set) == "azp is not this client")
        #expect(Self.refused(try token(["aud": [1]]), set) == "aud is not a list of strings")
        #expect(Self.refused(try token(["sub": ""]), set) == "sub is missing or malformed")
        let unverified = try IDTokenClaims.verify(try token(["email_verified": "true"]), keys: set, expect: Self.expect)
        #expect(!unverified.emailVerified)  // only a JSON true counts
    }

    @Test func keySetsRefuseWeakAndForeignKeys() throws {
        func one(_ key: JSON) -> JWKSet? { try? JWKSet.parse(Array(JSON.object(["keys": [key]]).serialized().utf8)) }
        #expect(one(["kty": "oct", "k": "c2VjcmV0"])?.keys.isEmpty == true)
        #expect(one(["kty": "RSA", "n": "AQAB", "e": "AQAB"])?.keys.isEmpty == true)  // a 24-bit modulus
        #expect(
            one([
                "kty": "EC", "crv": "P-256", "x": .string(String(repeating: "A", count: 43)),
                "y": .string(String(repeating: "A", count: 43))
            ])?
            .keys.isEmpty == true)  // not on the curve
        #expect(one(["kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"])?.keys.isEmpty == true)
        if let rsa = Self.rsa {
            var enc = rsa.jwk
            enc["use"] = "enc"
            #expect(one(.object(enc))?.keys.isEmpty == true)
            var hs = rsa.jwk
            hs["alg"] = "HS256"
            #expect(one(.object(hs))?.keys.isEmpty == true)
        }
        #expect((try? JWKSet.parse(Array(repeating: UInt8(ascii: " "), count: JWKSet.maxBytes + 1))) == nil)
        #expect((try? JWKSet.parse(Array(#"{"keys":{}}"#.utf8))) == nil)
    }

    @Test func base64urlIsCanonical() {
        #expect(Base64URL.decode("AQAB") == [1, 0, 1])
        #expect(Base64URL.decode("AQAB=") == nil)
        #expect(Base64URL.decode("AQ+/") == nil)
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("AR") == nil)  // non-zero unused bits: another spelling of "AQ"
        #expect(Base64URL.decode("AQ") == [1])
        #expect(Base64URL.decode("AQ A") == nil)
        #expect(ECDSASignature.der(raw: [UInt8](repeating: 0, count: 64)) == nil)
        #expect(ECDSASignature.der(raw: [0x80] + [UInt8](repeating: 1, count: 63)).map { $0[3] } == 33)
    }
}

/// Seeded fuzzing of everything an ID token's bytes reach: the compact parser, base64url, the
/// key set and the verifier. Nothing may crash, and no changed token may verify.
@Suite struct JWSFuzzTests {
    static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \u{0}é")

    @Test func mutatedTokensNeverVerify() throws {
        let rsa = try #require(JWSTests.rsa), ec = try #require(JWSTests.ec)
        let set = try JWSTests.keys([rsa, ec])
        let tokens = [
            try rsa.sign(header: #"{"alg":"RS256","kid":"rsa-1"}"#, claims: JWSTests.claims()),
            try ec.sign(header: #"{"alg":"ES256","kid":"ec-1"}"#, claims: JWSTests.claims())
        ]
        var rng = SeededGenerator(state: 0x1D70_4E11)
        var refused = 0
        for round in 0..<3000 {
            let original = tokens[round % 2]
            var chars = Array(original)
            for _ in 0...rng.int(0...2) {
                switch rng.int(0...6) {
                case 0: chars[rng.int(0...(chars.count - 1))] = rng.pick(Self.alphabet)
                case 1: chars = Array(chars.prefix(rng.int(0...(chars.count - 1))))
                case 2: chars.insert(rng.pick(Self.alphabet), at: rng.int(0...chars.count))
                case 3: chars.remove(at: rng.int(0...(chars.count - 1)))
                case 4: chars += Array(rng.pick([".", "..", "=", "AAAA", ".e30"]))
                case 5:
                    let i = rng.int(0...(chars.count - 1)), j = rng.int(0...(chars.count - 1))
                    chars.swapAt(i, j)
                default:
                    let i = rng.int(0...(chars.count - 1))
                    if let a = chars[i].asciiValue { chars[i] = Character(Unicode.Scalar(a ^ (1 << UInt8(rng.int(0...6))))) }
                }
                if chars.isEmpty { chars = ["."] }
            }
            let mutated = String(chars)
            let result = JWSTests.refused(mutated, set)
            if mutated == original {
                #expect(result == nil)
            } else {
                #expect(result != nil, "a changed token verified: \(mutated)")
                refused += 1
            }
        }
        #expect(refused > 2500)
    }

    @Test func randomBytesAndJSONNeverCrash() {
        var rng = SeededGenerator(state: 0xB64)
        for _ in 0..<4000 {
            let bytes = rng.bytes(rng.int(0...300))
            _ = try? CompactJWS.parse(bytes)
            _ = Base64URL.decode(bytes[...])
            _ = try? JWKSet.parse(bytes)
            // Random base64url parts around random JSON-ish headers.
            let header = rng.pick([#"{"alg":"RS256"}"#, #"{"alg":"none"}"#, #"{"alg":1}"#, "[]", #"{"alg":"ES256","kid":""}"#, "{"])
            let text =
                Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(rng.bytes(rng.int(0...40))) + "."
                + Base64URL.encode(rng.bytes(rng.int(0...80)))
            _ = try? CompactJWS.parse(text)
            let round = rng.bytes(rng.int(0...64))
            #expect(Base64URL.decode(Base64URL.encode(round)) == round)
        }
        // Key sets with random members never crash and never yield a key from nonsense.
        for _ in 0..<500 {
            let key: JSON = [
                "kty": .string(rng.pick(["RSA", "EC", "oct", ""])), "crv": .string(rng.pick(["P-256", "P-521"])),
                "n": .string(Base64URL.encode(rng.bytes(rng.int(0...300)))), "e": .string(Base64URL.encode(rng.bytes(rng.int(0...9)))),
                "x": .string(Base64URL.encode(rng.bytes(rng.int(30...33)))), "y": .string(Base64URL.encode(rng.bytes(rng.int(30...33))))
            ]
            let set = try? JWKSet.parse(Array(JSON.object(["keys": [key]]).serialized().utf8))
            if let set, let k = set.keys.first { #expect(k.kind == .rsa, "a random EC point was accepted") }
        }
    }
}
