import Cache
import Foundation
import Pipe
import Support

/// What a deleted chat leaves outside SQLite: its artifacts cached in Redis and its session-log
/// archives. Removed right after the chat's rows are gone (the database is the truth; a cache
/// entry missed here is useless anyway, since ids are never reused and cached rows are bound
/// to their user and chat by a MAC).
package enum ChatCopies {
    package static func remove(_ c: Scope, userID: Int64, chatIDs: [Int64], wholeUser: Bool) {
        let cache = c.services.cache
        if chatIDs.count == 1, let only = chatIDs.first, let pattern = CachePattern.artifacts(pipe: Valves.pipeID, chatID: only) {
            cache.deleteMatching(pattern)
        } else if chatIDs.count > 1, let pattern = CachePattern.artifacts(pipe: Valves.pipeID) {
            // A whole user: one walk over the pipe's artifacts, keeping the keys of their chats.
            let wanted = Set(chatIDs)
            cache.deleteMatching(pattern) { name in CacheKey.artifactChatID(name, pipe: Valves.pipeID).map(wanted.contains) ?? false }
        }
        let dir = PipeTurn.sessionLogDirectory(c.config)
        if wholeUser {
            SessionLog.removeUser(dir: dir, user: String(userID))
        } else {
            for chatID in chatIDs { SessionLog.removeChat(dir: dir, user: String(userID), chat: String(chatID)) }
        }
    }
}
