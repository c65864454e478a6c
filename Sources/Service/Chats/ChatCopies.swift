import Foundation
import Pipe
import Support

/// What a deleted chat leaves outside SQLite: its artifacts cached in Redis and its session-log
/// archives. Removed right after the chat's rows are gone (the database is the truth; a cache
/// entry missed here is useless anyway, since ids are never reused and cached rows are bound
/// to their user and chat by a MAC).
package enum ChatCopies {
    package static func remove(_ c: Scope, userID: Int64, chatIDs: [Int64], wholeUser: Bool) {
        if chatIDs.count == 1, let only = chatIDs.first {
            removeCached(c, pattern: PipeTurn.cacheKeyPattern(chatID: only)) { _ in true }
        } else if !chatIDs.isEmpty {
            // A whole user: one walk over the namespace, keeping the keys of their chats.
            let wanted = Set(chatIDs.map(String.init))
            removeCached(c, pattern: "\(PipeTurn.namespace):artifact:*") { key in
                let parts = key.split(separator: ":")
                return parts.count >= 4 && wanted.contains(String(parts[2]))
            }
        }
        let dir = PipeTurn.sessionLogDirectory(c.config)
        if wholeUser {
            SessionLog.removeUser(dir: dir, user: String(userID))
        } else {
            for chatID in chatIDs { SessionLog.removeChat(dir: dir, user: String(userID), chat: String(chatID)) }
        }
    }

    /// Deletes the keys matching `pattern`, walking SCAN with a bound on the number of rounds.
    package static func removeCached(_ c: Scope, pattern: String, keep: (String) -> Bool) {
        var cursor = "0"
        for _ in 0..<10_000 {
            guard case .array(let parts)? = c.services.redisCommand(["SCAN", cursor, "MATCH", pattern, "COUNT", "1000"]),
                  parts.count == 2, let next = parts[0].string, case .array(let keys) = parts[1] else { return }
            let names = keys.compactMap(\.string).filter(keep)
            if !names.isEmpty { _ = c.services.redisCommand(["DEL"] + names) }
            cursor = next
            if cursor == "0" { return }
        }
    }
}
