/// Every Redis key this service reads or writes, named here and nowhere else.
///
/// Layout (kept from before, so entries and tests that name keys still match):
/// - `ct:models:<connection id>`: a connection's model names
/// - `<pipe>:models`: the pipe's model names
/// - `<pipe>:artifact:<chat id>:<artifact id>`: one stored artifact of a chat
///
/// No part may hold `:` or a glob character, and the pipe may not be named `ct`, so a key reads
/// back one way only: no two namespaces can produce the same key, and a pattern never reaches
/// into another namespace. A part that breaks the rule gives no key (nil): a cache miss.
public struct CacheKey: Sendable, Hashable, CustomStringConvertible {
    public let name: String
    public var description: String { name }

    private init(_ name: String) { self.name = name }

    static let serviceNamespace = "ct"

    /// A connection's model names (`GET /models`).
    public static func connectionModels(_ connectionID: Int64) -> CacheKey {
        CacheKey("\(serviceNamespace):models:\(connectionID)")
    }

    /// The pipe's model names.
    public static func pipeModels(pipe: String) -> CacheKey? {
        guard isPipeName(pipe) else { return nil }
        return CacheKey("\(pipe):models")
    }

    /// One stored artifact of a chat.
    public static func artifact(pipe: String, chatID: Int64, id: String) -> CacheKey? {
        guard isPipeName(pipe), isPart(id, maxLength: 64) else { return nil }
        return CacheKey("\(pipe):artifact:\(chatID):\(id)")
    }

    /// The chat an artifact key belongs to, or nil when `name` is not one of `pipe`'s artifact keys.
    public static func artifactChatID(_ name: String, pipe: String) -> Int64? {
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == pipe, parts[1] == "artifact", isPart(parts[3], maxLength: 64),
            let chatID = Int64(parts[2]), String(chatID) == parts[2]
        else { return nil }
        return chatID
    }

    /// A pipe's id as a namespace: a short lowercase name, never the service's own.
    static func isPipeName(_ text: String) -> Bool {
        text != serviceNamespace && isPart(text, maxLength: 32) && !text.contains(where: { $0.isUppercase })
    }

    /// Letters, digits, `-` and `_` only: no separator, no glob character, no space or control.
    static func isPart(_ text: some StringProtocol, maxLength: Int) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength
            && text.utf8.allSatisfy { b in
                (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x2D || b == 0x5F
            }
    }
}

/// A SCAN pattern over one namespace's keys, named beside the keys it matches.
public struct CachePattern: Sendable, Hashable, CustomStringConvertible {
    public let glob: String
    public var description: String { glob }

    private init(_ glob: String) { self.glob = glob }

    /// Every cached artifact of one chat.
    public static func artifacts(pipe: String, chatID: Int64) -> CachePattern? {
        guard CacheKey.isPipeName(pipe) else { return nil }
        return CachePattern("\(pipe):artifact:\(chatID):*")
    }

    /// Every cached artifact of the pipe (filter with `CacheKey.artifactChatID`).
    public static func artifacts(pipe: String) -> CachePattern? {
        guard CacheKey.isPipeName(pipe) else { return nil }
        return CachePattern("\(pipe):artifact:*")
    }
}
