import FastCGI
import Testing

/// What a handler reads from a `Request`: parameters, headers, cookies and query items, written
/// as the checks a user of the API makes.
@Suite struct RequestTests {
    static func request(cookie: String? = nil, query: String? = nil, _ params: [String: String] = [:]) -> Request {
        var all = params
        if let cookie { all["HTTP_COOKIE"] = cookie }
        if let query { all["QUERY_STRING"] = query }
        return Request(params: all)
    }

    @Test func methodPathAndQueryFromParams() {
        let r = Request(params: ["REQUEST_METHOD": "POST", "REQUEST_URI": "/api/v1/chats/3?x=1", "QUERY_STRING": "x=1"])
        #expect(r.method == "POST")
        #expect(r.path == "/api/v1/chats/3")
        #expect(r.query == "x=1")
        let bare = Request(params: [:])
        #expect(bare.method == "GET" && bare.path == "/" && bare.query == "")
        // The path keeps its escapes: routing decides what they mean.
        #expect(Request(params: ["REQUEST_URI": "/a%2Fb?q"]).path == "/a%2Fb")
        #expect(Request(params: ["DOCUMENT_URI": "/doc"]).path == "/doc")
    }

    @Test func headersByTheirHTTPName() {
        let r = Request(params: [
            "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": "12", "HTTP_X_CSRF_TOKEN": "t",
            "HTTP_CONTENT_TYPE": "spoofed"
        ])
        #expect(r.header("Content-Type") == "application/json")
        #expect(r.header("content-length") == "12")
        #expect(r.header("X-CSRF-Token") == "t")
        #expect(r.header("x-csrf-token") == "t")
        #expect(r.header("Authorization") == nil)
    }

    @Test func bodyLimitFlagIsKept() {
        let r = Request(params: [:], body: [], bodyTooLarge: true)
        #expect(r.bodyTooLarge && r.body.isEmpty)
    }

    @Test(arguments: [
        ("a=1; ct_session=abc; b=2", "abc"),
        ("ct_session=abc", "abc"),
        ("ct_session=abc;b=2", "abc"),
        ("   ct_session=abc   ;b=2", "abc"),
        ("b=2;;  ; ct_session=abc", "abc"),
        ("ct_session=", ""),
        ("ct_session=a=b", "a=b")
    ])
    func cookieFound(_ header: String, _ value: String) {
        #expect(Self.request(cookie: header).cookie("ct_session") == value)
    }

    @Test(arguments: [
        "ct_session=abc; ct_session=def",  // planted twin: ambiguous, so nothing
        "ct_session=abc;ct_session=abc",  // even when equal
        "CT_SESSION=abc", "ct_session =abc", "ct_sessionx=abc", "xct_session=abc", "ct_session", "", ";;;",
        "a=ct_session=abc"
    ])
    func cookieNotFound(_ header: String) {
        #expect(Self.request(cookie: header).cookie("ct_session") == nil, "\(header)")
    }

    @Test func cookiesListsEveryValueInOrder() {
        let r = Self.request(cookie: "x=1; y=2; x=3")
        #expect(r.cookies("x") == ["1", "3"])
        #expect(r.cookies("z").isEmpty)
        #expect(Self.request().cookies("x").isEmpty)
    }

    /// `__Host-ct_session` is its own name: a plain `ct_session` (which a sibling subdomain can set)
    /// never answers for it, the prefix is matched exactly, and two of them are ambiguous.
    @Test func hostPrefixedSessionCookie() {
        let name = "__Host-ct_session"
        #expect(Self.request(cookie: "__Host-ct_session=s1").cookie(name) == "s1")
        #expect(Self.request(cookie: "ct_session=planted").cookie(name) == nil)
        #expect(Self.request(cookie: "ct_session=planted; __Host-ct_session=s1").cookie(name) == "s1")
        #expect(Self.request(cookie: "__host-ct_session=s1").cookie(name) == nil)
        #expect(Self.request(cookie: "__Host-ct_session=s1; __Host-ct_session=s2").cookie(name) == nil)
        #expect(Self.request(cookie: "__Host-ct_session=s1").cookie("ct_session") == nil)
    }

    @Test func queryItems() {
        let r = Self.request(query: "a=1&b=&c&d=x%3Dy&e=1+2&a=second&%66=f&=empty")
        #expect(r.queryItem("a") == "1")  // the first one wins
        #expect(r.queryItem("b") == "")
        #expect(r.queryItem("c") == "")
        #expect(r.queryItem("d") == "x=y")
        #expect(r.queryItem("e") == "1 2")
        #expect(r.queryItem("f") == "f")  // names are decoded too
        #expect(r.queryItem("") == "empty")
        #expect(r.queryItem("missing") == nil)
        #expect(Self.request().queryItem("a") == nil)
        #expect(Self.request(query: "a=1&&b=2").queryItem("b") == "2")
    }

    @Test(arguments: [
        ("", ""), ("plain", "plain"), ("a+b", "a b"), ("a%2Bb", "a+b"), ("%20", " "), ("%41%42", "AB"), ("%c3%a9", "é"),
        ("%C3%A9", "é"), ("100%", "100%"), ("%4", "%4"), ("%G1", "%G1"), ("%%41", "%A"), ("%+1", "% 1"), ("%-1", "%-1"),
        ("%00", "\u{0}"), ("a%00b", "a\u{0}b")
    ])
    func percentDecoding(_ text: String, _ decoded: String) {
        #expect(percentDecode(text) == decoded)
    }

    /// Bytes that are not UTF-8 (a lone continuation byte, an overlong `/`, a surrogate, a cut
    /// sequence) become U+FFFD: a handler never sees them as the character they imitate.
    @Test(arguments: [
        ("%C0%AF", "\u{FFFD}\u{FFFD}"), ("%80", "\u{FFFD}"), ("%ED%A0%80", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        ("%E2%82", "\u{FFFD}"), ("%FF%FE", "\u{FFFD}\u{FFFD}"), ("%E0%80%AF", "\u{FFFD}\u{FFFD}\u{FFFD}")
    ])
    func invalidUTF8IsReplaced(_ text: String, _ decoded: String) {
        let result = percentDecode(text)
        #expect(result == decoded)
        #expect(!result.contains("/"))
    }

    @Test func aDecodedQueryCannotSmuggleASeparator() {
        let r = Self.request(query: "next=%2Fa%26b%3Dc&b=real")
        #expect(r.queryItem("next") == "/a&b=c")
        #expect(r.queryItem("b") == "real")
    }
}
