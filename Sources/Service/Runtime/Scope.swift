import Storage

/// What a domain operation works with: the caller, a request id for the log, and the services
/// (SQLite and Redis connections) it may use: its thread's own, or one borrowed from the pool.
/// The HTTP layer's request context is one (a subclass that adds the request); operator commands
/// make one on their own services.
open class Scope {
    package let lease: ServicesLease
    public let requestID: String
    public final var auth: Authentication?
    /// The client address nginx saw, as login limits count it.
    public let clientAddress: String
    /// Who the audit trail names when nobody is signed in: an operator command or the service.
    public final var actingAs: AuditActor?

    public init(lease: ServicesLease, requestID: String, clientAddress: String = "local") {
        self.lease = lease
        self.requestID = requestID
        self.clientAddress = clientAddress
    }

    /// The services to use now. A long request borrows them from the pool on first use.
    public var services: Services { lease.current }

    /// Gives borrowed services back before waiting on the network, so a stream holds no SQLite
    /// or Redis connection while it waits. Anything made from `db` before must not be used after.
    public func releaseServices() { lease.release() }

    public var config: Config { services.config }
    public var db: Database { services.db }

    public var user: User {
        get throws(ServiceError) {
            guard let auth else { throw ServiceError.unauthorized }
            return auth.user
        }
    }
}

public struct Authentication: Sendable {
    public enum Method: String, Sendable { case session, token }
    public let user: User
    public let method: Method
    public let sessionToken: String?

    public init(user: User, method: Method, sessionToken: String?) {
        self.user = user
        self.method = method
        self.sessionToken = sessionToken
    }
}
