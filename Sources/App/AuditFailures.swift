import Service
import Support

/// The one place a route's denied or failed action is recorded, on its own (the domain's event
/// went with its rolled-back transaction). Only the error code and status: messages and field
/// names can echo what the client sent, and a client may send a secret anywhere.
enum AuditFailures {
    /// Nothing happened to anything real, or the caller is nobody: not worth a row each.
    static let unrecorded: Set<Int> = [401, 404, 405, 413, 415, 429]

    static func record(_ c: Context, _ action: AuditAction, _ error: any Error) {
        let failure = ServiceError.rendering(error).error
        guard c.auth != nil, !unrecorded.contains(failure.status) else { return }
        let outcome: AuditOutcome = failure.status == 403 ? .denied : .failed
        // The target as the path names it: the action's object type and the numeric id, if any.
        let type = String(action.rawValue.prefix { $0 != "." })
        let target = AuditTarget(type, id: c.pathParams["id"].flatMap { Int64($0) }.flatMap { $0 > 0 ? $0 : nil })
        c.auditFailure(
            action, target: target, outcome: outcome,
            details: ["error": .string(failure.code.rawValue), "status": JSON(failure.status)])
    }
}
