import Support
import Testing

@Suite struct JSONTests {
    @Test func parsesAndSerializesRoundTrip() throws {
        let value = try JSON.parse(#"{"b":[1,2.5,true,null],"a":"x\"y\u00e9\ud83d\ude00"}"#)
        #expect(value["a"]?.stringValue == "x\"yé😀")
        #expect(value["b"]?.arrayValue?.count == 4)
        #expect(value.serialized() == #"{"a":"x\"yé😀","b":[1,2.5,true,null]}"#)
    }

    @Test(arguments: [
        "", "{", "{\"a\":1,}", "[1 2]", "{\"a\":1}x", "{\"a\":1,\"a\":2}", "\"\u{01}\"", "01x", "{'a':1}",
        "\"\\ud800\"", "1e", "-", "tru", "nan"
    ])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSON.parse(text) }
    }

    @Test func limitsNestingDepth() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSON.parse(deep) }
        let fine = String(repeating: "[", count: 10) + String(repeating: "]", count: 10)
        #expect((try? JSON.parse(fine)) != nil)
    }

    @Test func booleansAreNotNumbers() throws {
        #expect(try JSON.parse("true").intValue == nil)
        #expect(try JSON.parse("1").boolValue == nil)
        #expect(try JSON.parse("1.5").intValue == nil)
    }

    @Test func escapesHTMLSensitiveCharacters() {
        #expect(JSON.string("<script>&").serialized() == #""\u003cscript\u003e\u0026""#)
    }
}

@Suite struct RedactionTests {
    @Test func scrubsTokensKeysDataURLsAndBase64() {
        let long = String(repeating: "QUJD", count: 30)
        let line = "auth ct_abcdefghijklmnopqrstuvwxyz key sk-proj-1234567890abcdef url data:image/png;base64,\(long) blob \(long) ok"
        let out = Redaction.scrub(line)
        #expect(!out.contains("abcdefghijklmnop"))
        #expect(!out.contains("1234567890abcdef"))
        #expect(!out.contains(long))
        #expect(out.contains("<redacted"))
        #expect(out.hasSuffix(" ok"))
        #expect(Redaction.scrub("/api/v1/health") == "/api/v1/health")
    }
}

@Suite struct BaseURLTests {
    @Test(arguments: [
        ("https://API.OpenAI.com/v1/", "https://api.openai.com/v1"),
        ("HTTPS://api.openai.com:443/v1", "https://api.openai.com/v1"),
        ("http://127.0.0.1:80/v1", "http://127.0.0.1/v1"),
        ("http://127.0.0.1:8081/v1//", "http://127.0.0.1:8081/v1"),
        ("https://example.com.", "https://example.com")
    ])
    func normalizes(_ raw: String, _ expected: String) {
        #expect((try? BaseURL.normalize(raw).get()) == expected)
    }

    @Test(arguments: [
        ("https://user:pw@api.openai.com/v1", BaseURL.Problem.userinfo),
        ("https://api.openai.com/v1?x=1", .queryOrFragment),
        ("https://api.openai.com/v1#f", .queryOrFragment),
        ("ftp://api.openai.com", .scheme),
        ("https://api.openai.com:0/v1", .port),
        ("https://api.openai.com:99999", .port),
        ("https:// api.openai.com", .malformed),
        ("https://api\\openai.com", .malformed),
        ("https:///v1", .host)
    ])
    func refuses(_ raw: String, _ problem: BaseURL.Problem) {
        guard case .failure(let found) = BaseURL.normalize(raw) else {
            Issue.record("\(raw) was accepted")
            return
        }
        #expect(found == problem)
    }
}

@Suite struct CIDRTests {
    @Test func containsAddressesOfItsFamilyOnly() throws {
        let net = try #require(CIDR("10.1.2.0/24"))
        #expect(net.contains(try #require(IPAddress("10.1.2.200"))))
        #expect(!net.contains(try #require(IPAddress("10.1.3.1"))))
        #expect(!net.contains(try #require(IPAddress("::ffff:10.1.2.3"))))
        let v6 = try #require(CIDR("fc00::/7"))
        #expect(v6.contains(try #require(IPAddress("fd12::1"))))
        #expect(CIDR("10.0.0.0/33") == nil)
        #expect(CIDR("10.0.0.0/08") == nil)
        #expect(IPAddress("0x7f.1") == nil)
        #expect(IPAddress("2130706433") == nil)
    }
}

@Suite struct Base64Tests {
    @Test func decodesBothAlphabetsWithAndWithoutPadding() {
        #expect(Encoding.fromBase64("aGVsbG8=") == Array("hello".utf8))
        #expect(Encoding.fromBase64("aGVsbG8") == Array("hello".utf8))
        #expect(Encoding.fromBase64("_-8") == [0xFF, 0xEF])
        #expect(Encoding.fromBase64("/+8=") == [0xFF, 0xEF])
        #expect(Encoding.fromBase64("") == [])
        #expect(Encoding.fromBase64("a$b") == nil)
        #expect(Encoding.fromBase64("aGVs=bG8") == nil)
        for n in 0..<40 {
            let bytes = (0..<n).map { UInt8(($0 * 37 + n) & 0xFF) }
            #expect(Encoding.fromBase64(Encoding.base64url(bytes)) == bytes)
            #expect(Encoding.fromBase64(Encoding.base64(bytes)) == bytes)
        }
    }
}
