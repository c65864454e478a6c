import Crypto
import Support

/// The actions of SPEC section 10. Nothing else is ever written as an action.
public enum AuditAction: String, Sendable, CaseIterable {
    case login = "auth.login"
    case loginFailed = "auth.login_failed"
    case logout = "auth.logout"
    case tokenCreate = "token.create"
    case tokenRevoke = "token.revoke"
    case userCreate = "user.create"
    case userUpdate = "user.update"
    case userDelete = "user.delete"
    case connectionCreate = "connection.create"
    case connectionUpdate = "connection.update"
    case connectionDelete = "connection.delete"
    case groupCreate = "group.create"
    case groupUpdate = "group.update"
    case groupDelete = "group.delete"
    case configUpdate = "config.update"
    case configImport = "config.import"
    case configExport = "config.export"
    case pipeValvesUpdate = "pipe.valves_update"
    case secretsReencrypt = "secrets.reencrypt"
    case filesFetchRefused = "files.fetch_refused"
    case chatDelete = "chat.delete"
    case retentionCleanup = "retention.cleanup"
    case databaseCopy = "database.copy"
}

public enum AuditOutcome: String, Sendable {
    case ok, denied, failed
}

/// Who acted: a signed-in user, an API token's user, an operator command, or the service itself.
public struct AuditActor: Sendable, Equatable {
    public enum Kind: String, Sendable { case user, token, `operator`, system }
    public let kind: Kind
    public let userID: Int64?
    public let email: String?

    public init(kind: Kind, userID: Int64? = nil, email: String? = nil) {
        self.kind = kind
        self.userID = userID
        self.email = email
    }

    public static let `operator` = AuditActor(kind: .operator)
    public static let system = AuditActor(kind: .system)
}

public struct AuditTarget: Sendable, Equatable {
    public let type: String
    public let id: String?
    public let name: String?

    public init(_ type: String, id: Int64? = nil, name: String? = nil) {
        self.type = type
        self.id = id.map(String.init)
        self.name = name
    }
}

/// Builders for `details`: before/after of plain fields, and what happened to a secret without it.
public enum AuditDetails {
    /// `{field: {before, after}}` for each field whose value differs; unchanged fields are left out.
    public static func changes(_ before: [String: JSON], _ after: [String: JSON]) -> [String: JSON] {
        var out: [String: JSON] = [:]
        for key in Set(before.keys).union(after.keys) {
            let old = before[key] ?? .null
            let new = after[key] ?? .null
            if old != new { out[key] = ["before": old, "after": new] }
        }
        return out
    }

    /// `{change: set|replaced|cleared, fingerprint}`, or nil when the secret did not change.
    /// The fingerprint is the mask SPEC section 4 allows (null for short secrets): never the value.
    public static func secret(before: String?, after: String?) -> JSON? {
        let old = before.flatMap { $0.isEmpty ? nil : $0 }
        let new = after.flatMap { $0.isEmpty ? nil : $0 }
        switch (old, new) {
        case (nil, nil): return nil
        case (nil, let value?): return ["change": "set", "fingerprint": JSON(Fingerprint.of(value))]
        case (_?, nil): return ["change": "cleared", "fingerprint": .null]
        case (let a?, let b?):
            return a == b ? nil : ["change": "replaced", "fingerprint": JSON(Fingerprint.of(b))]
        }
    }
}
