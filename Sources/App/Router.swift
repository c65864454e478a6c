import FastCGI
import Service
import Support

/// Who may call a route.
public enum Access: Sendable { case anyone, user, admin }

public struct Response {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// When set, the handler streams its own body (server-sent events) instead of `body`.
    public var stream: ((ResponseWriter) -> Void)?

    public static func json(_ value: JSON, status: Int = 200, headers: [(String, String)] = []) -> Response {
        Response(
            status: status, headers: [("Content-Type", "application/json")] + headers,
            body: Array(value.serialized().utf8), stream: nil)
    }

    public static func noContent(headers: [(String, String)] = []) -> Response {
        Response(status: 204, headers: headers, body: [], stream: nil)
    }
}

public typealias Handler = @Sendable (Context) throws -> Response

public struct Route: Sendable {
    public let method: String
    public let segments: [String]  // "{name}" marks a parameter
    public let access: Access
    /// The audit action of a route that changes something: a success is recorded by the domain
    /// in its transaction; a denial or failure is recorded here, on its own (`Application`).
    public let audit: AuditAction?
    public let handler: Handler

    public init(_ method: String, _ pattern: String, _ access: Access, audit: AuditAction? = nil, _ handler: @escaping Handler) {
        self.method = method
        self.segments = pattern.split(separator: "/").map(String.init)
        self.access = access
        self.audit = audit
        self.handler = handler
    }

    func match(_ parts: [String]) -> [String: String]? {
        guard parts.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            if segment.hasPrefix("{") {
                guard !part.isEmpty else { return nil }
                params[String(segment.dropFirst().dropLast())] = part
            } else if segment != part {
                return nil
            }
        }
        return params
    }
}

public struct Router: Sendable {
    public static let prefix = "/api/v1"
    let routes: [Route]

    public init(_ routes: [Route]) { self.routes = routes }

    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed([String])
        case notFound
    }

    public func match(method: String, path: String) -> Match {
        guard path == Self.prefix || path.hasPrefix(Self.prefix + "/") else { return .notFound }
        let parts = path.dropFirst(Self.prefix.count).split(separator: "/").map(String.init)
        var allowed: [String] = []
        for route in routes {
            guard let params = route.match(parts) else { continue }
            if route.method == method || (method == "HEAD" && route.method == "GET") { return .found(route, params) }
            allowed.append(route.method)
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed)
    }
}
