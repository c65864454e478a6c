import Cache
import Foundation
import Support
import Testing

@testable import Service

let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

@Suite struct SettingsTests {
    @Test func defaultsMatchTheSpec() throws {
        let config = try Config.load(environment: [:])
        #expect(config.databasePath == "var/cryotensor.db")
        #expect(config.redis == nil)
        #expect(config.encryptionKey == nil)
        #expect(!config.localEncryption)
        #expect(config.allowedBaseURLs == ["https://api.openai.com/v1"])
        #expect(config.ssrfProtection)
        #expect(!config.allowInsecureHTTP)
        #expect(config.remoteFileMaxMB == 50 && config.remoteDownloadMaxRetries == 3)
        #expect(config.remoteDownloadInitialRetryDelaySeconds == 5 && config.remoteDownloadMaxRetryTimeSeconds == 45)
        #expect(config.base64MaxMB == 50 && config.videoMaxMB == 100)
    }

    @Test func parsesListsAndRedisForms() throws {
        let config = try Config.load(environment: [
            "OPENAI_ALLOWED_API_BASE_URLS": "https://API.example.com/v1/; http://127.0.0.1:8081/v1",
            "REDIS_URL": "redis://127.0.0.1:6390/2",
            "SSRF_ALLOWED_CIDRS": "10.9.0.0/16, fd00::/8",
            "ALLOW_INSECURE_HTTP_HOSTS": "Mirror.local:8080"
        ])
        #expect(config.allowedBaseURLs == ["https://api.example.com/v1", "http://127.0.0.1:8081/v1"])
        #expect(config.redis?.database == 2)
        #expect(config.ssrfAllowedCIDRs.count == 2)
        #expect(config.insecureHTTPHosts == ["mirror.local:8080"])
        #expect(try Config.load(environment: ["REDIS_URL": "unix:///run/redis.sock"]).redis?.address == .unix(path: "/run/redis.sock"))
    }

    @Test func secretsPrintAsAMask() throws {
        let config = try Config.load(environment: ["CONFIG_ENCRYPTION_KEY": String(repeating: "k", count: 40)])
        #expect(String(describing: config.encryptionKey).contains("kkkk") == false)
        #expect("\(config)".contains("kkkk") == false)
    }

    /// docs/configuration.md's table is rendered from the settings table, so the two cannot drift.
    /// `CT_WRITE_DOCS=1 swift test --filter configurationDocMatchesTheTable` writes the table into the doc.
    @Test func configurationDocMatchesTheTable() throws {
        let file = repositoryRoot.appendingPathComponent("docs/configuration.md")
        var doc = try String(contentsOf: file, encoding: .utf8)
        if ProcessInfo.processInfo.environment["CT_WRITE_DOCS"] == "1", let start = doc.range(of: "| variable | default |") {
            let end = doc.range(of: "\n\n", range: start.lowerBound..<doc.endIndex)?.lowerBound ?? doc.endIndex
            doc.replaceSubrange(start.lowerBound..<end, with: SettingsTable.markdownTable)
            try doc.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(doc.contains(SettingsTable.markdownTable), "docs/configuration.md's table must read:\n\(SettingsTable.markdownTable)")
    }

    /// Every editable setting shows in `/admin/config` under its API name, and nothing else does.
    @Test func runtimeSettingsComeFromTheTable() throws {
        let shown = try #require(RuntimeSettings.json(try Config.load(environment: [:])).objectValue)
        #expect(Set(shown.keys) == Set(SettingsTable.all.filter(\.isEditable).map(\.apiName)))
        #expect(!SettingsTable.all.contains { $0.isEditable && $0.isSecret }, "no secret is ever a runtime setting")
        #expect(shown["video_max_size_mb"] == .number(100) && shown["max_streams_per_user"]?.intValue == 8)
    }

    /// `dump()` and reflection see the mask, never the value.
    @Test func secretsDoNotPrintThroughReflection() throws {
        let config = try Config.load(environment: ["CONFIG_ENCRYPTION_KEY": String(repeating: "q", count: 40)])
        var dumped = ""
        dump(config, to: &dumped)
        #expect(!dumped.contains("qqqq"), "dump() printed the key")
        let children = Mirror(reflecting: try #require(config.encryptionKey)).children
        #expect(children.isEmpty)
    }
}

@Suite struct HardeningUnitTests {
    @Test func ipv6ClientsAreCountedPerSlash64() {
        let a = LoginLimiter.clientKey("2001:db8:1:2::1")
        #expect(a == LoginLimiter.clientKey("2001:db8:1:2:ffff:ffff:ffff:fffe"), "one /64, one budget")
        #expect(a != LoginLimiter.clientKey("2001:db8:1:3::1"))
        #expect(LoginLimiter.clientKey("::ffff:192.0.2.7") == "192.0.2.7", "a mapped IPv4 client is that IPv4 address")
        #expect(LoginLimiter.clientKey("192.0.2.7") == "192.0.2.7")
    }

    @Test func redisCredentialsParseAndNeverPrint() {
        let e = RedisEndpoint.parse("redis://ops:p%40ss%3Aword@redis.internal:6380/2")
        #expect(e?.username == "ops" && e?.hasPassword == true && e?.database == 2)
        #expect(e.map { "\($0)" }?.contains("p@ss") == false)
        #expect(RedisEndpoint.masked("redis://ops:hunter2@h:1/0") == "redis://ops:***@h:1/0")
        #expect(RedisEndpoint.parse("unix:///run/redis.sock?password=s3cret&db=1")?.hasPassword == true)
        #expect(RedisEndpoint.parse("redis://ops:bad%0aline@h:1") == nil, "a control character in the password")
        #expect(throws: ConfigError.self) { try Config.load(environment: ["REDIS_URL": "rediss://h:6380"]) }
    }

    @Test func completionFieldsAreAllowListedAndCapped() throws {
        let config = try Config.load(environment: [:])
        let out = try CompletionsPolicy.forwardedFields(
            [
                "model": "m", "messages": [], "user": "u", "service_tier": "priority",
                "max_tokens": 99_999_999, "n": 1
            ], config)
        #expect(out["user"] == nil && out["service_tier"] == nil)
        #expect(out["max_tokens"]?.intValue == config.completionsMaxTokens)
        #expect(throws: ServiceError.self) { try CompletionsPolicy.forwardedFields(["n": 2], config) }
        #expect(throws: ServiceError.self) { try CompletionsPolicy.forwardedFields(["n": .number(1e300)], config) }
    }
}
