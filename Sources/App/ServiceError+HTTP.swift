import Service
import Support

/// A catalogue error with headers only HTTP knows (`Allow` on a 405).
struct HTTPFailure: Error, CustomStringConvertible {
    let error: ServiceError
    let headers: [(String, String)]
    var description: String { error.description }
}

extension ServiceError {
    /// Any error as the client sees it: its catalogue entry and the headers it needs.
    static func rendering(_ error: any Error) -> (error: ServiceError, headers: [(String, String)]) {
        if let failure = error as? HTTPFailure { return (failure.error, failure.headers) }
        let e = ServiceError.from(error)
        return (e, e.retryAfter.map { [("Retry-After", String($0))] } ?? [])
    }

    /// The event a stream ends with when the failure comes after its headers went out.
    var streamEvent: String {
        "data: " + JSON.object(["type": "error", "error": ["code": .string(code.rawValue), "message": .string(message)]]).serialized()
            + "\n\n"
    }
}
