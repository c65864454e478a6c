import FastCGI
import Service
import Support

extension Context {
    /// The query string checked against declared fields, as a body is: unknown or repeated names
    /// are refused (a second `action=` must not widen a filter), integers must be plain digits.
    func queryInput(_ spec: InputSpec) throws(ServiceError) -> Fields {
        var object: [String: JSON] = [:]
        for pair in request.query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = percentDecode(String(parts[0]))
            let value = parts.count > 1 ? percentDecode(String(parts[1])) : ""
            guard let field = spec.fields.first(where: { $0.name == name }) else {
                throw ServiceError.invalidField(String(name.prefix(64).filter { $0.isLetter || $0 == "_" }), "Unknown query parameter.")
            }
            guard object[name] == nil else { throw ServiceError.invalidField(name, "'\(name)' is given twice.") }
            if value.isEmpty { continue }
            if case .integer = field.kind {
                guard value.count <= 19, value.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(value) else {
                    throw ServiceError.invalidField(name, "'\(name)' must be a non-negative integer.")
                }
                object[name] = JSON(n)
            } else {
                object[name] = .string(value)
            }
        }
        return try spec.validate(object)
    }
}
