import Foundation
import Synchronization
import Testing

@testable import Cache

/// What each change of health was reported as, in order.
final class Reports: Sendable {
    let changes = Mutex<[CacheHealth.Change]>([])
    var all: [CacheHealth.Change] { changes.withLock { $0 } }
    func health() -> CacheHealth { CacheHealth { change in self.changes.withLock { $0.append(change) } } }
}

/// Redis is optional: without it, or when it stops, the cache reads nil, writes nothing, and says
/// so once; when it comes back, it says that once too.
@Suite struct CacheFallbackTests {
    let key = CacheKey.connectionModels(1)

    @Test func withoutAnEndpointEverythingIsAQuietMiss() {
        let reports = Reports()
        let cache = Cache(endpoint: nil, health: reports.health())
        #expect(!cache.isConfigured)
        cache.set(key, "x", ttlSeconds: 60)
        #expect(cache.get(key) == nil)
        cache.delete([key])
        #expect(cache.deleteMatching(CachePattern.artifacts(pipe: "openrouter")!) == nil)
        #expect(!cache.ping())
        #expect(reports.all.isEmpty)
    }

    @Test func aMissingServerIsReportedOnceAcrossThreadsAndCalls() {
        let reports = Reports()
        let health = reports.health()
        let endpoint = RedisEndpoint(address: .unix(path: "/nonexistent/cachetests/redis.sock"))
        let caches = (0..<3).map { _ in Cache(endpoint: endpoint, health: health, retryIntervalMillis: 0) }
        for _ in 0..<20 {
            for cache in caches {
                cache.set(key, "x", ttlSeconds: 5)
                #expect(cache.get(key) == nil)
            }
        }
        #expect(reports.all.count == 1)
        guard case .unavailable(let reason)? = reports.all.first else { Issue.record("no report"); return }
        #expect(reason.contains("connect"))
        #expect(health.isDown)
    }

    @Test func aServerStoppedMidwayAndStartedAgain() throws {
        let server = try RedisServer()
        let reports = Reports()
        let cache = Cache(endpoint: RedisEndpoint(address: .unix(path: server.socket)), health: reports.health(), retryIntervalMillis: 10)
        cache.set(key, "alpha", ttlSeconds: 60)
        #expect(cache.get(key) == "alpha")
        #expect(cache.ping())

        server.stop()
        for _ in 0..<5 {
            #expect(cache.get(key) == nil)
            cache.set(key, "beta", ttlSeconds: 60)
            Thread.sleep(forTimeInterval: 0.012)
        }
        #expect(reports.all.count == 1)
        #expect(cache.health.isDown)

        try server.start()
        Thread.sleep(forTimeInterval: 0.02)
        // A new server holds nothing (nothing is saved): a miss, but an answered one.
        #expect(cache.get(key) == nil)
        cache.set(key, "gamma", ttlSeconds: 60)
        #expect(cache.get(key) == "gamma")
        #expect(reports.all == [reports.all[0], .recovered])
        #expect(!cache.health.isDown)
    }

    @Test func setUsesATimeToLiveAndDeleteRemoves() throws {
        let server = try RedisServer()
        let endpoint = RedisEndpoint(address: .unix(path: server.socket))
        let cache = Cache(endpoint: endpoint, health: CacheHealth { _ in })
        let probe = RedisClient(endpoint: endpoint)
        cache.set(key, "v", ttlSeconds: 60)
        let ttl = try probe.command(["TTL", key.name]).integer ?? -1
        #expect((1...60).contains(ttl))
        cache.set(key, "v", ttlSeconds: 0)
        #expect(try probe.command(["TTL", key.name]).integer == 1)
        cache.set(key, "v", ttlSeconds: Int.max)
        #expect(try probe.command(["TTL", key.name]).integer == Int64(Cache.maxTTLSeconds))
        cache.delete([key])
        #expect(cache.get(key) == nil)
    }

    @Test func deleteMatchingRemovesOnlyItsNamespaceInBatches() throws {
        let server = try RedisServer()
        let cache = Cache(endpoint: RedisEndpoint(address: .unix(path: server.socket)), health: CacheHealth { _ in })
        let pipe = "openrouter"
        for chat in Int64(1)...3 {
            for n in 0..<700 { cache.set(try #require(CacheKey.artifact(pipe: pipe, chatID: chat, id: "A\(n)")), "x", ttlSeconds: 60) }
        }
        cache.set(.connectionModels(1), "m", ttlSeconds: 60)
        cache.set(try #require(CacheKey.pipeModels(pipe: pipe)), "m", ttlSeconds: 60)

        #expect(cache.deleteMatching(try #require(CachePattern.artifacts(pipe: pipe, chatID: 1))) == 700)
        // The whole-user walk: one pass over the namespace, keeping the keys of the chats asked for.
        let removed = cache.deleteMatching(try #require(CachePattern.artifacts(pipe: pipe))) { name in
            CacheKey.artifactChatID(name, pipe: pipe) == 3
        }
        #expect(removed == 700)
        #expect(cache.get(try #require(CacheKey.artifact(pipe: pipe, chatID: 2, id: "A5"))) == "x")
        #expect(cache.get(try #require(CacheKey.artifact(pipe: pipe, chatID: 3, id: "A5"))) == nil)
        #expect(cache.get(.connectionModels(1)) == "m")
        #expect(cache.get(try #require(CacheKey.pipeModels(pipe: pipe))) == "m")
    }

    /// An error reply (a key of another type) is not Redis being down.
    @Test func anErrorReplyIsNotAnOutage() throws {
        let server = try RedisServer()
        let reports = Reports()
        let endpoint = RedisEndpoint(address: .unix(path: server.socket))
        let cache = Cache(endpoint: endpoint, health: reports.health())
        _ = try RedisClient(endpoint: endpoint).command(["LPUSH", key.name, "x"])
        #expect(cache.get(key) == nil)
        #expect(reports.all.isEmpty)
    }
}
