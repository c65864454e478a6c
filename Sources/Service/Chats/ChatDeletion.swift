import Storage
import Support

/// Deleting chats: one, all of a user's, or those retention has aged out. Rows, messages,
/// artifacts (foreign keys) and index rows (trigger) go in one transaction with the audit event;
/// then the copies outside SQLite (Redis entries, session-log archives). Titles and messages are
/// chat content: the trail holds only ids and counts.
package enum ChatDeletion {
    package static func deleteOne(_ s: Scope, id: Int64) throws {
        let user = try s.user
        try s.db.transaction {
            guard try ChatRepository(s.db).delete(id: id, userID: user.id) else { throw ServiceError.notFound }
            try s.audit(.chatDelete, target: AuditTarget("chat", id: id), details: ["owner_id": JSON(Int(user.id))])
        }
        ChatCopies.remove(s, userID: user.id, chatIDs: [id], wholeUser: false)
    }

    /// All of the caller's chats at once; returns how many.
    package static func deleteAll(_ s: Scope) throws -> Int {
        let user = try s.user
        let chats = ChatRepository(s.db)
        let ids = try s.db.transaction {
            let ids = try chats.ids(userID: user.id)
            for id in ids { _ = try chats.delete(id: id, userID: user.id) }
            try s.audit(
                .chatDelete, target: AuditTarget("user", id: user.id, name: user.email),
                details: ["scope": "all", "chats_deleted": JSON(ids.count)])
            return ids
        }
        if !ids.isEmpty { ChatCopies.remove(s, userID: user.id, chatIDs: ids, wholeUser: true) }
        return ids.count
    }

    /// Retention: chats not updated since `cutoff`, in batches, each batch one transaction; every
    /// copy of each goes too. Returns how many were deleted (recorded by the caller's event).
    package static func expire(_ s: Scope, before cutoff: Int64) throws -> Int {
        let chats = ChatRepository(s.db)
        var total = 0
        while true {
            let batch = try chats.untouched(before: cutoff, limit: 500)
            if batch.isEmpty { break }
            try s.db.transaction { for chat in batch { _ = try chats.delete(id: chat.id, userID: chat.userID) } }
            for (user, ids) in Dictionary(grouping: batch, by: \.userID) {
                ChatCopies.remove(s, userID: user, chatIDs: ids.map(\.id), wholeUser: false)
            }
            total += batch.count
        }
        if total > 0 { try s.db.transaction { try chats.purgeIndex() } }
        return total
    }
}
