import TestSupport
import Testing

@testable import Cache

/// `REDIS_URL` as the operator writes it: both forms, credentials, and what is refused.
@Suite struct RedisEndpointTests {
    @Test func tcpFormWithCredentialsAndDatabase() throws {
        let e = try #require(RedisEndpoint.parse("redis://app:s3cret@cache.internal:6380/2"))
        #expect(e.address == .tcp(host: "cache.internal", port: 6380))
        #expect(e.database == 2)
        #expect(e.username == "app")
        #expect(e.password == "s3cret")
    }

    @Test func tcpDefaultsAndForms() throws {
        #expect(RedisEndpoint.parse("redis://localhost")?.address == .tcp(host: "localhost", port: 6379))
        #expect(RedisEndpoint.parse("redis://localhost/")?.database == 0)
        #expect(RedisEndpoint.parse("redis://[::1]:7000/1")?.address == .tcp(host: "::1", port: 7000))
        // A password alone (requirepass), and one with an empty user before the colon.
        let bare = try #require(RedisEndpoint.parse("redis://onlypass@h:1"))
        #expect(bare.username == nil && bare.password == "onlypass")
        let empty = try #require(RedisEndpoint.parse("redis://:p%40ss@h:1"))
        #expect(empty.username == nil && empty.password == "p@ss")
    }

    @Test func unixFormWithQuery() throws {
        let e = try #require(RedisEndpoint.parse("unix:///run/redis/redis.sock?db=3&user=u&password=p%26w"))
        #expect(e.address == .unix(path: "/run/redis/redis.sock"))
        #expect(e.database == 3 && e.username == "u" && e.password == "p&w")
        #expect(RedisEndpoint.parse("unix:///tmp/r.sock")?.password == nil)
    }

    @Test(arguments: [
        "", "redis://", "rediss://h:6379", "REDIS://h", "http://h:6379", "redis:/h", "unix://", "unix://relative/path",
        "unix:///", "unix:///s?db=-1", "unix:///s?db=1024", "unix:///s?db=x", "unix:///s?user=u", "unix:///s?password=",
        "unix:///s?pass=x", "unix:///s?password=%0d%0aFLUSHALL", "redis://h:0", "redis://h:65536", "redis://h:-1",
        "redis://h:80x", "redis://:@h", "redis://u:@h", "redis://h/1024", "redis://h/-1",
        "redis://[::1", "redis://[::1]x", "redis://a@b@", "redis://u:%zz@h", "redis://u:p%0a@h", "redis://@h"
    ])
    func refused(_ url: String) {
        #expect(RedisEndpoint.parse(url) == nil, "\(url)")
    }

    @Test func descriptionsMaskThePassword() throws {
        let tcp = try #require(RedisEndpoint.parse("redis://app:hunter2hunter2@h:6379/1"))
        #expect(tcp.description == "redis://app:***@h:6379/1")
        let unix = try #require(RedisEndpoint.parse("unix:///s.sock?password=hunter2hunter2"))
        #expect(unix.description == "unix:///s.sock?db=0&password=***")
        #expect(RedisEndpoint.masked("redis://:hunter2hunter2@h") == "redis://:***@h:6379/0")
        #expect(RedisEndpoint.masked("rediss://:hunter2hunter2@h") == "(invalid)")
    }

    /// Hostile URLs never trap, and whatever parses never shows its password in its description.
    @Test func hostileInputsNeverTrapOrLeak() {
        var rng = SeededGenerator(state: 0x4ED15)
        let pieces = [
            "redis://", "unix://", "/", ":", "@", "[", "]", "?", "&", "=", "%", "%4", "%41", "%00", "%0a", "db=", "user=",
            "password=", "65535", "0", "-", "::1", "h", "é", "\u{0}", " ", "secretword"
        ]
        for _ in 0..<20_000 {
            let url = (0..<rng.int(1...10)).map { _ in rng.pick(pieces) }.joined()
            guard let e = RedisEndpoint.parse(url) else { continue }
            let shown: String
            switch e.address {
            case .tcp(let host, _): shown = host + (e.username ?? "")
            case .unix(let path): shown = path + (e.username ?? "")
            }
            if let password = e.password, password.count > 3, !shown.contains(password) {
                #expect(!e.description.contains(password), "\(url)")
            }
            if case .tcp(let host, let port) = e.address {
                #expect(!host.isEmpty && (1...65535).contains(port))
            }
            #expect((0..<1024).contains(e.database))
        }
    }
}
