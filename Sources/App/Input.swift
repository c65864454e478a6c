import Service
import Support

/// Declared input of an endpoint (the kcgi habit): each field with its type and limits.
/// Handlers read only the validated, typed values.
public struct FieldSpec: Sendable {
    public typealias Kind = ValueKind
    public let name: String
    public let kind: Kind
    public let required: Bool

    public static func required(_ name: String, _ kind: Kind) -> FieldSpec { FieldSpec(name: name, kind: kind, required: true) }
    public static func optional(_ name: String, _ kind: Kind) -> FieldSpec { FieldSpec(name: name, kind: kind, required: false) }
}

public struct InputSpec: Sendable {
    public let fields: [FieldSpec]
    /// Unknown fields are refused by default, so a typo never silently does nothing.
    public var allowUnknown = false
    public init(_ fields: [FieldSpec], allowUnknown: Bool = false) {
        self.fields = fields
        self.allowUnknown = allowUnknown
    }
}

public struct Fields: Sendable {
    let values: [String: JSON]
    /// The whole body as sent (declared fields checked), for domain rules that read it as a
    /// document: a connection, where `"api_version": null` means "clear it".
    public let document: [String: JSON]
    public func string(_ name: String) -> String? { values[name]?.stringValue }
    public func bool(_ name: String) -> Bool? { values[name]?.boolValue }
    public func int(_ name: String) -> Int? { values[name]?.intValue }
    public func raw(_ name: String) -> JSON? { values[name] }
    public func has(_ name: String) -> Bool { values[name] != nil }

    /// A required field: `validate` made sure it is there and of its kind, so it is not optional here.
    public func required(_ name: String) throws(ServiceError) -> JSON {
        guard let value = values[name] else { throw ServiceError(.internalError, "Field '\(name)' was not declared as required.") }
        return value
    }

    public func requiredString(_ name: String) throws(ServiceError) -> String {
        guard let text = try required(name).stringValue else { throw ServiceError(.internalError, "Field '\(name)' is not a string.") }
        return text
    }
}

extension InputSpec {
    public func validate(_ body: [UInt8]) throws(ServiceError) -> Fields {
        try validate(try Self.object(body))
    }

    /// A request body as a JSON object, or 400 `invalid_json`.
    public static func object(_ body: [UInt8]) throws(ServiceError) -> [String: JSON] {
        let document: JSON
        do {
            document = try JSON.parse(body)
        } catch {
            throw ServiceError.invalidJSON(error.description)
        }
        guard case .object(let object) = document else { throw ServiceError.invalidJSON("expected an object") }
        return object
    }

    /// Every field checked; any problem is 400 `invalid_field` naming the first, with all of them in `problems`.
    public func validate(_ object: [String: JSON]) throws(ServiceError) -> Fields {
        let (fields, problems) = check(object)
        guard problems.isEmpty else { throw ServiceError(problems: problems) }
        return fields
    }

    /// The checked fields and every problem, each with its field as path (for callers that report
    /// them with their own, as an import does).
    public func check(_ object: [String: JSON], at path: String = "") -> (Fields, [Problem]) {
        func place(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
        var problems: [Problem] = []
        if !allowUnknown {
            for unknown in object.keys.sorted() where !fields.contains(where: { $0.name == unknown }) {
                problems.append(Problem(path: place(unknown), code: .invalidField, message: "Unknown field '\(unknown)'."))
            }
        }
        var out: [String: JSON] = [:]
        for field in fields {
            guard let value = object[field.name], value != .null else {
                if field.required {
                    problems.append(Problem(path: place(field.name), code: .invalidField, message: "Field '\(field.name)' is required."))
                }
                continue
            }
            switch field.kind.check(value, name: field.name) {
            case .success(let normal): out[field.name] = normal
            case .failure(let refusal): problems.append(Problem(path: place(field.name), code: .invalidField, message: refusal.message))
            }
        }
        return (Fields(values: out, document: object), problems)
    }
}
