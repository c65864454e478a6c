import Crypto
import FastCGI
import Service
import Storage
import Support

/// Dispatches one request: route, authenticate, authorize, run the handler, write the answer,
/// and log one line. Holds no state between requests. One built on a thread's own Services serves
/// that thread only; one built on a pool may serve many threads at once (it keeps nothing else).
public final class Application: @unchecked Sendable {
    let owned: Services?
    let pool: ServicesPool?
    let router: Router

    public init(services: Services) {
        self.owned = services
        self.pool = nil
        self.router = Router(Application.routes)
    }

    public init(pool: ServicesPool) {
        self.owned = nil
        self.pool = pool
        self.router = Router(Application.routes)
    }

    func lease() -> ServicesLease {
        if let owned { return ServicesLease(owned: owned) }
        guard let pool else { preconditionFailure("an application has services or a pool") }
        return ServicesLease(pool: pool)
    }

    /// Requests that wait on the network: they run on the elastic lane.
    public static func isLong(_ request: Request) -> Bool {
        let path = request.path
        guard path.hasPrefix(Router.prefix + "/") else { return false }
        let parts = path.dropFirst(Router.prefix.count + 1).split(separator: "/")
        switch (request.method, parts.count) {
        case ("POST", 3): return parts[0] == "chats" && parts[2] == "messages"
        case ("POST", 2): return (parts[0] == "chat" && parts[1] == "completions") || (parts[0] == "files" && parts[1] == "fetch")
        case ("GET", 1), ("HEAD", 1): return parts[0] == "models"
        // Sign-in with the identity provider waits on its discovery, token and key endpoints.
        case ("GET", 3): return parts[0] == "auth" && parts[1] == "oidc"
        default: return false
        }
    }

    /// The answer when every long slot is taken: JSON, never nginx's HTML 502.
    public static func busy(_ request: Request, _ writer: ResponseWriter) {
        let body = ServiceError(.busy, "The service is at its capacity of concurrent streams. Try again shortly.").body.serialized()
        writer.send(
            status: ErrorCode.busy.status,
            headers: [("Content-Type", "application/json"), ("Retry-After", "2"), ("Cache-Control", "no-store")],
            body: Array(body.utf8))
        Log.event(.warn, "busy", ["method": .string(request.method), "path": .string(request.path)])
    }

    static let routes: [Route] = [
        Route("GET", "/health", .anyone) { _ in .json(["status": "ok"]) },
        Route("POST", "/auth/login", .anyone, AuthHandlers.login),
        Route("POST", "/auth/logout", .anyone, AuthHandlers.logout),
        Route("GET", "/auth/me", .user, AuthHandlers.me),
        Route("GET", "/auth/providers", .anyone, OIDCHandlers.providers),
        Route("GET", "/auth/oidc/login", .anyone, OIDCHandlers.login),
        Route("GET", "/auth/oidc/callback", .anyone, OIDCHandlers.callback),
        Route("GET", "/auth/oidc/logout", .anyone, OIDCHandlers.logout),
        Route("GET", "/tokens", .user, TokenHandlers.list),
        Route("POST", "/tokens", .user, audit: .tokenCreate, TokenHandlers.create),
        Route("DELETE", "/tokens/{id}", .user, audit: .tokenRevoke, TokenHandlers.delete),
        Route("GET", "/admin/status", .admin, AdminHandlers.status),
        Route("GET", "/admin/users", .admin, AdminHandlers.listUsers),
        Route("POST", "/admin/users", .admin, audit: .userCreate, AdminHandlers.createUser),
        Route("PATCH", "/admin/users/{id}", .admin, audit: .userUpdate, AdminHandlers.updateUser),
        Route("DELETE", "/admin/users/{id}", .admin, audit: .userDelete, AdminHandlers.deleteUser),
        Route("GET", "/admin/connections", .admin, ConnectionHandlers.list),
        Route("POST", "/admin/connections", .admin, audit: .connectionCreate, ConnectionHandlers.create),
        Route("GET", "/admin/connections/{id}", .admin, ConnectionHandlers.get),
        Route("PUT", "/admin/connections/{id}", .admin, audit: .connectionUpdate, ConnectionHandlers.update),
        Route("DELETE", "/admin/connections/{id}", .admin, audit: .connectionDelete, ConnectionHandlers.delete),
        Route("GET", "/admin/groups", .admin, GroupHandlers.list),
        Route("POST", "/admin/groups", .admin, audit: .groupCreate, GroupHandlers.create),
        Route("GET", "/admin/groups/{id}", .admin, GroupHandlers.get),
        Route("PATCH", "/admin/groups/{id}", .admin, audit: .groupUpdate, GroupHandlers.update),
        Route("DELETE", "/admin/groups/{id}", .admin, audit: .groupDelete, GroupHandlers.delete),
        Route("GET", "/admin/usage", .admin, UsageHandlers.all),
        Route("GET", "/usage", .user, UsageHandlers.own),
        Route("GET", "/admin/audit", .admin, AuditHandlers.list),
        Route("GET", "/admin/config", .admin, ConfigHandlers.get),
        Route("PATCH", "/admin/config", .admin, audit: .configUpdate, ConfigHandlers.patch),
        Route("GET", "/admin/config/export", .admin, audit: .configExport, ConfigHandlers.export),
        Route("POST", "/admin/config/import", .admin, audit: .configImport, ConfigHandlers.importDocument),
        Route("GET", "/models", .user, ModelHandlers.list),
        Route("GET", "/admin/pipes", .admin, PipeHandlers.list),
        Route("GET", "/admin/pipes/openrouter/valves", .admin, PipeHandlers.getValves),
        Route("PUT", "/admin/pipes/openrouter/valves", .admin, audit: .pipeValvesUpdate, PipeHandlers.putValves),
        Route("GET", "/chats", .user, ChatHandlers.list),
        Route("POST", "/chats", .user, ChatHandlers.create),
        Route("DELETE", "/chats", .user, audit: .chatDelete, ChatHandlers.deleteAll),
        Route("GET", "/chats/search", .user, ChatHandlers.search),
        Route("GET", "/chats/{id}", .user, ChatHandlers.get),
        Route("PATCH", "/chats/{id}", .user, ChatHandlers.rename),
        Route("DELETE", "/chats/{id}", .user, audit: .chatDelete, ChatHandlers.delete),
        Route("POST", "/chats/{id}/messages", .user, ChatHandlers.postMessage),
        Route("POST", "/chats/{id}/stop", .user, ChatHandlers.stop),
        Route("POST", "/chat/completions", .user, ChatHandlers.completions),
        Route("POST", "/files/fetch", .user, FileHandlers.fetch),
        Route("GET", "/files/{id}", .user, FileHandlers.get),
        Route("GET", "/files/{id}/content", .user, FileHandlers.content)
    ]

    public func handle(_ request: Request, _ writer: ResponseWriter) {
        let started = Clock.monotonicMillis()
        let requestID = Self.requestID(request)
        writer.extraHeaders = [("X-Request-Id", requestID), ("Cache-Control", "no-store")]
        var userID: Int64? = nil
        var errorCode: String? = nil
        let lease = lease()
        defer { lease.release() }
        do {
            let response = try dispatch(request, requestID: requestID, lease: lease, userID: &userID)
            // Nothing is written to the client while a pooled connection is held: a slow reader
            // must not pin one (a stream borrows again only for its own short writes).
            lease.release()
            if let stream = response.stream {
                stream(writer)
            } else {
                writer.send(status: response.status, headers: response.headers, body: request.method == "HEAD" ? [] : response.body)
            }
        } catch {
            lease.release()
            let (failure, headers) = ServiceError.rendering(error)
            if failure.status >= 500 {
                // A ServiceError describes itself by code and message only (ServiceError.description).
                Log.event(.error, "handler_failed", ["request_id": .string(requestID), "error": .string(String(describing: error))])
            }
            errorCode = failure.code.rawValue
            if writer.headersSent {
                writer.write(failure.streamEvent)
            } else {
                writer.send(
                    status: failure.status, headers: [("Content-Type", "application/json")] + headers,
                    body: Array(failure.body.serialized().utf8))
            }
        }
        var fields: [String: JSON] = [
            "request_id": .string(requestID), "method": .string(request.method), "path": .string(request.path),
            "status": .number(Double(writer.status)), "bytes": .number(Double(writer.bytesWritten)),
            "duration_ms": .number(((Clock.monotonicMillis() - started) * 1000).rounded() / 1000),
            "remote_addr": .string(request.params["REMOTE_ADDR"] ?? "")
        ]
        if let userID { fields["user_id"] = .number(Double(userID)) }
        if let errorCode { fields["error"] = .string(errorCode) }
        Log.event(.info, "request", fields)
    }

    func dispatch(_ request: Request, requestID: String, lease: ServicesLease, userID: inout Int64?) throws -> Response {
        if request.bodyTooLarge { throw ServiceError.tooLarge }
        let (route, params): (Route, [String: String])
        switch router.match(method: request.method, path: request.path) {
        case .notFound: throw ServiceError.notFound
        case .methodNotAllowed(let allowed):
            throw HTTPFailure(
                error: ServiceError(.methodNotAllowed, "Method \(request.method) is not allowed here."),
                headers: [("Allow", allowed.joined(separator: ", "))])
        case .found(let r, let p): (route, params) = (r, p)
        }
        let context = Context(request: request, pathParams: params, lease: lease, requestID: requestID)
        context.auth = try context.authenticate()
        userID = context.auth?.user.id
        do {
            return try authorizeAndRun(route, context)
        } catch {
            if let action = route.audit { AuditFailures.record(context, action, error) }
            throw error
        }
    }

    func authorizeAndRun(_ route: Route, _ context: Context) throws -> Response {
        let request = context.request
        switch route.access {
        case .anyone: break
        case .user: guard context.auth != nil else { throw ServiceError.unauthorized }
        case .admin:
            guard let auth = context.auth else { throw ServiceError.unauthorized }
            guard auth.user.role == .admin else { throw ServiceError.forbidden }
        }
        try context.checkCSRF()
        if !request.body.isEmpty, ["POST", "PUT", "PATCH"].contains(request.method) {
            let type = (request.header("Content-Type") ?? "").lowercased()
            guard type.hasPrefix("application/json") else {
                throw ServiceError(.unsupportedMediaType, "Send JSON with Content-Type: application/json.")
            }
        }
        return try route.handler(context)
    }

    /// nginx's $request_id when present (32 hex), else a fresh one.
    static func requestID(_ request: Request) -> String {
        if let id = request.params["REQUEST_ID"], id.count == 32, id.allSatisfy(\.isHexDigit) { return id }
        return Encoding.hex(Crypto.Random.bytes(16))
    }
}
