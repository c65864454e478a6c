import Pipe
import Storage
import Support

/// Who may use which models (SPEC section 12): a connection, and the OpenRouter pipe, carry
/// `allowed_groups`; empty means every user, else only members of one of those groups, admins
/// included. Both model paths (`POST /chats/{id}/messages`, `POST /chat/completions`) route
/// through `ModelCatalog.route` (connections) or `PipeTurn.producer` (the pipe), which ask here;
/// `GET /models` lists only what `permits` lets through.
package enum ModelAccess {
    /// At most this many group ids on one connection or the pipe.
    package static let maxGroups = 256
    /// The one declared kind of an `allowed_groups` list, wherever it is accepted.
    package static let groupListKind = ValueKind.idList(max: maxGroups)
    /// The pipe's valve that holds its list (stored as JSON, like a connection's column).
    package static let pipeValve = "allowed_groups"

    package static func json(_ ids: [Int64]) -> JSON { .array(ids.map { .number(Double($0)) }) }

    /// The groups the caller is in, read from the database at each request (never from a cache).
    package static func callerGroups(_ s: Scope) throws -> Set<Int64> {
        Set(try GroupRepository(s.db).groupIDs(userID: try s.user.id))
    }

    /// True when a list lets a member of `groups` through: an empty list lets everyone.
    package static func permits(_ allowed: [Int64], _ groups: Set<Int64>) -> Bool {
        allowed.isEmpty || allowed.contains(where: groups.contains)
    }

    /// The pipe's list (`allowed_groups` valve).
    package static func pipeGroups(_ valves: PipeValves) -> [Int64] {
        ConnectionRecord.decodeGroups(valves.stored[pipeValve] ?? "[]")
    }

    package static func notAllowed(_ model: String) -> ServiceError {
        ServiceError(.modelNotAllowed, "You may not use the model '\(model)'. An admin can add you to a group that may.", field: "model")
    }

    /// Every id must name a group that exists now: an unknown id could be made later and inherit the access.
    package static func requireGroupsExist(_ ids: [Int64], _ db: Database, field: String) throws {
        let missing = Set(ids).subtracting(try GroupRepository(db).existing(ids))
        guard missing.isEmpty else {
            throw ServiceError.invalidField(field, "No group has the id(s) \(missing.sorted().map(String.init).joined(separator: ", ")).")
        }
    }
}
