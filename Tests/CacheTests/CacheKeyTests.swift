import TestSupport
import Testing

@testable import Cache

/// Key names: the layout callers and operators know, and no way for an id to reach another key.
@Suite struct CacheKeyTests {
    @Test func layoutIsTheOneInUse() throws {
        #expect(CacheKey.connectionModels(7).name == "ct:models:7")
        #expect(try #require(CacheKey.pipeModels(pipe: "openrouter")).name == "openrouter:models")
        let artifact = try #require(CacheKey.artifact(pipe: "openrouter", chatID: 12, id: "01JABCDEFGHJKMNPQRST"))
        #expect(artifact.name == "openrouter:artifact:12:01JABCDEFGHJKMNPQRST")
        #expect(CachePattern.artifacts(pipe: "openrouter", chatID: 12)?.glob == "openrouter:artifact:12:*")
        #expect(CachePattern.artifacts(pipe: "openrouter")?.glob == "openrouter:artifact:*")
    }

    @Test(arguments: ["", "a:b", "*", "a*", "?", "[x]", "a b", "a\nb", "\u{0}", "é", "../x", "a\\b", String(repeating: "A", count: 65)])
    func hostileArtifactIDsGiveNoKey(_ id: String) {
        #expect(CacheKey.artifact(pipe: "openrouter", chatID: 1, id: id) == nil)
    }

    @Test(arguments: ["", "ct", "a:b", "Open", "x*", "pipe name", String(repeating: "p", count: 33)])
    func hostilePipeNamesGiveNoKeyOrPattern(_ pipe: String) {
        #expect(CacheKey.pipeModels(pipe: pipe) == nil)
        #expect(CacheKey.artifact(pipe: pipe, chatID: 1, id: "A") == nil)
        #expect(CachePattern.artifacts(pipe: pipe) == nil)
        #expect(CachePattern.artifacts(pipe: pipe, chatID: 1) == nil)
    }

    @Test func artifactChatIDReadsOnlyArtifactKeys() {
        #expect(CacheKey.artifactChatID("openrouter:artifact:12:ABC", pipe: "openrouter") == 12)
        #expect(CacheKey.artifactChatID("openrouter:artifact:-3:ABC", pipe: "openrouter") == -3)
        for name in [
            "openrouter:artifact:12", "openrouter:artifact:12:A:B", "openrouter:artifact:012:A", "openrouter:artifact:+1:A",
            "other:artifact:12:A", "openrouter:models", "ct:models:12", "openrouter:artifact:x:A", "openrouter:artifact:1:*"
        ] {
            #expect(CacheKey.artifactChatID(name, pipe: "openrouter") == nil, "\(name)")
        }
    }

    /// Random parts: every key that is made is distinct from every other made from other parts,
    /// reads back to its own chat, and is matched only by its own chat's pattern.
    @Test func keysNeverCollideAcrossNamespaces() {
        var rng = SeededGenerator(state: 0xCAC4E)
        let alphabet = Array("abAB09-_:*?[]\\ é\u{0}")
        func part() -> String { String((0..<rng.int(0...5)).map { _ in rng.pick(alphabet) }) }
        var made: [String: String] = [:]
        for _ in 0..<30_000 {
            let pipe = rng.chance(3) ? "openrouter" : part()
            let chat = Int64(rng.int(-3...40))
            let id = part()
            let candidates: [(String, CacheKey?)] = [
                ("connection|\(chat)", .connectionModels(chat)),
                ("pipe-models|\(pipe)", CacheKey.pipeModels(pipe: pipe)),
                ("artifact|\(pipe)|\(chat)|\(id)", CacheKey.artifact(pipe: pipe, chatID: chat, id: id))
            ]
            for (origin, key) in candidates {
                guard let key else { continue }
                if let earlier = made[key.name] { #expect(earlier == origin, "\(key.name) from \(earlier) and \(origin)") }
                made[key.name] = origin
                #expect(!key.name.contains(where: { "*?[]\\ \n\u{0}".contains($0) }), "\(key.name)")
                if origin.hasPrefix("artifact|") {
                    #expect(CacheKey.artifactChatID(key.name, pipe: pipe) == chat)
                    #expect(Glob.matches(CachePattern.artifacts(pipe: pipe, chatID: chat)?.glob ?? "", key.name))
                    #expect(!Glob.matches(CachePattern.artifacts(pipe: pipe, chatID: chat + 1)?.glob ?? "", key.name))
                } else {
                    #expect(CacheKey.artifactChatID(key.name, pipe: pipe) == nil)
                    #expect(!Glob.matches(CachePattern.artifacts(pipe: pipe)?.glob ?? "", key.name))
                }
            }
        }
    }
}

/// Redis's MATCH for the only glob our patterns use: literal text and a trailing `*`.
enum Glob {
    static func matches(_ glob: String, _ name: String) -> Bool {
        guard !glob.isEmpty else { return false }
        if glob.hasSuffix("*") { return name.hasPrefix(glob.dropLast()) }
        return name == glob
    }
}
