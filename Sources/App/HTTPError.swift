import Cache
import Crypto
import Storage
import Support

/// Every failure a handler can report: status, stable snake_case code and a message for a person.
/// App maps all other error types to this in one place (`HTTPError.from`).
public struct HTTPError: Error, Sendable {
    public let status: Int
    public let code: String
    public let message: String
    public var field: String? = nil
    public var headers: [(String, String)] = []
    public var extra: [String: JSON] = [:]

    public init(_ status: Int, _ code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var body: JSON {
        var error: [String: JSON] = ["code": .string(code), "message": .string(message)]
        if let field { error["field"] = .string(field) }
        var top: [String: JSON] = ["error": .object(error)]
        for (k, v) in extra { top[k] = v }
        return .object(top)
    }

    public static func invalidJSON(_ detail: String) -> HTTPError { HTTPError(400, "invalid_json", "The request body is not valid JSON: \(detail).") }
    public static func invalidField(_ field: String, _ message: String) -> HTTPError { HTTPError(400, "invalid_field", message, field: field) }
    public static let unauthorized = HTTPError(401, "unauthorized", "Authentication is required.")
    public static let forbidden = HTTPError(403, "forbidden", "You are not allowed to do this.")
    public static let notFound = HTTPError(404, "not_found", "No such resource.")
    public static let tooLarge = HTTPError(413, "payload_too_large", "The request body is larger than the limit.")

    public static func rateLimited(retryAfter: Int) -> HTTPError {
        var e = HTTPError(429, "rate_limited", "Too many attempts. Try again in \(retryAfter) seconds.")
        e.headers = [("Retry-After", String(retryAfter))]
        return e
    }

    /// The one place where lower layers' errors become HTTP answers. Details stay in the log.
    static func from(_ error: any Error) -> HTTPError {
        switch error {
        case let e as HTTPError: return e
        case let e as StorageError where e.kind == .busy:
            var h = HTTPError(503, "database_busy", "The database is busy. Try again.")
            h.headers = [("Retry-After", "1")]
            return h
        case let e as StorageError where e.kind == .constraint:
            return HTTPError(409, "conflict", "This conflicts with an existing record.")
        default:
            return HTTPError(500, "internal_error", "Something went wrong. The request id is in the X-Request-Id header.")
        }
    }
}
