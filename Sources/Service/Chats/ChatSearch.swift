import Foundation
import Storage
import Support

/// Server-side search over the caller's own chats, in plaintext mode only (encrypted mode keeps
/// no index: 409, and the browser searches what it has loaded).
package enum ChatSearch {
    package static func run(_ c: Scope, query q: String) throws -> [JSON] {
        if c.transcripts.encrypt {
            throw ServiceError(
                .searchUnavailableEncrypted,
                "Transcripts are encrypted at rest, so the server keeps no search index. Search your loaded "
                    + "chats in the browser.")
        }
        let terms = q.split(whereSeparator: { $0.isWhitespace }).prefix(16)
        guard !terms.isEmpty, q.count <= 500, !q.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ServiceError.invalidField("q", "Give 1 to 500 characters to search for, without control characters.")
        }
        let repo = ChatRepository(c.db)
        let userID = try c.user.id
        let t = c.transcripts
        var results: [JSON] = []
        var seen = Set<Int64>()
        // One result per chat: its best-ranked hit.
        for hit in try repo.search(userID: userID, terms: terms.map(String.init)) where seen.insert(hit.chatID).inserted {
            guard let chat = try repo.find(id: hit.chatID, userID: userID) else { continue }
            results.append([
                "chat": t.chatJSON(chat), "message_id": hit.messageID == 0 ? .null : .number(Double(hit.messageID)),
                "snippet": .string(hit.snippet)
            ])
        }
        return results
    }
}
