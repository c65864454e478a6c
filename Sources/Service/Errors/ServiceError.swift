import Storage
import Support

/// Every failure the service reports: a code of the catalogue (which gives the status), a message
/// for a person, and optionally the field at fault. Other modules' errors become one of these in
/// one place each (the `+Service.swift` files beside this one).
public struct ServiceError: Error, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String
    public var field: String? = nil
    /// Seconds a client should wait before trying again (`Retry-After`).
    public var retryAfter: Int? = nil
    /// More members of the error body beside `error` (an import's `problems`, a failed turn's `message`).
    public var extra: [String: JSON] = [:]

    public init(_ code: ErrorCode, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var status: Int { code.status }

    /// Code and message only, wherever it is printed or logged: `extra` can carry a failed turn's
    /// stored answer, which no log may hold.
    public var description: String { "\(code.rawValue): \(message)" }

    public var body: JSON {
        var error: [String: JSON] = ["code": .string(code.rawValue), "message": .string(message)]
        if let field { error["field"] = .string(field) }
        var top: [String: JSON] = ["error": .object(error)]
        for (k, v) in extra { top[k] = v }
        return .object(top)
    }

    public static func invalidJSON(_ detail: String) -> ServiceError {
        ServiceError(.invalidJSON, "The request body is not valid JSON: \(detail).")
    }
    public static func invalidField(_ field: String, _ message: String) -> ServiceError {
        ServiceError(.invalidField, message, field: field)
    }
    public static let unauthorized = ServiceError(.unauthorized, "Authentication is required.")
    public static let forbidden = ServiceError(.forbidden, "You are not allowed to do this.")
    public static let notFound = ServiceError(.notFound, "No such resource.")
    public static let tooLarge = ServiceError(.payloadTooLarge, "The request body is larger than the limit.")

    public static func rateLimited(retryAfter: Int) -> ServiceError {
        var e = ServiceError(.rateLimited, "Too many attempts. Try again in \(retryAfter) seconds.")
        e.retryAfter = retryAfter
        return e
    }

    /// The one place where any error becomes one of the catalogue. Details stay in the log.
    public static func from(_ error: any Error) -> ServiceError {
        switch error {
        case let e as ServiceError: e
        case let e as StorageError: ServiceError(storage: e)
        default: ServiceError(.internalError, "Something went wrong. The request id is in the X-Request-Id header.")
        }
    }
}

extension ServiceError {
    /// Several problems of one input: the first gives the code and field, all are listed.
    public init(problems: [Problem]) {
        let first = problems.first ?? Problem(path: "", code: .invalidField, message: "The input is not acceptable.")
        self.init(first.code, first.message, field: first.path)
        extra = ["problems": .array(problems.map(\.json))]
    }
}
