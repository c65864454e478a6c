import Service
import Support

/// Declared input of an endpoint (the kcgi habit): each field with its type and limits.
/// Handlers read only the validated, typed values.
public struct FieldSpec: Sendable {
    public enum Kind: Sendable {
        case string(min: Int, max: Int)
        case email
        case bool
        case integer(ClosedRange<Int>)
        case oneOf([String])
        case any  // passed through untouched (nested documents validated by their handler)
    }
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
    public func string(_ name: String) -> String? { values[name]?.stringValue }
    public func bool(_ name: String) -> Bool? { values[name]?.boolValue }
    public func int(_ name: String) -> Int? { values[name]?.intValue }
    public func raw(_ name: String) -> JSON? { values[name] }
    public func has(_ name: String) -> Bool { values[name] != nil }
}

extension InputSpec {
    public func validate(_ body: [UInt8]) throws(ServiceError) -> Fields {
        let document: JSON
        do {
            document = try JSON.parse(body)
        } catch {
            throw ServiceError.invalidJSON(error.description)
        }
        guard case .object(let object) = document else { throw ServiceError.invalidJSON("expected an object") }
        return try validate(object)
    }

    public func validate(_ object: [String: JSON]) throws(ServiceError) -> Fields {
        if !allowUnknown, let unknown = object.keys.sorted().first(where: { key in !fields.contains { $0.name == key } }) {
            throw ServiceError.invalidField(unknown, "Unknown field '\(unknown)'.")
        }
        var out: [String: JSON] = [:]
        for field in fields {
            guard let value = object[field.name], value != .null else {
                if field.required { throw ServiceError.invalidField(field.name, "Field '\(field.name)' is required.") }
                continue
            }
            try check(field, value)
            out[field.name] = value
        }
        return Fields(values: out)
    }

    func check(_ field: FieldSpec, _ value: JSON) throws(ServiceError) {
        let name = field.name
        switch field.kind {
        case .string(let min, let max):
            guard let s = value.stringValue else { throw ServiceError.invalidField(name, "Field '\(name)' must be a string.") }
            guard s.count >= min, s.count <= max else {
                throw ServiceError.invalidField(name, "Field '\(name)' must be \(min) to \(max) characters long.")
            }
            guard !s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" }) else {
                throw ServiceError.invalidField(name, "Field '\(name)' contains control characters.")
            }
        case .email:
            guard let s = value.stringValue else { throw ServiceError.invalidField(name, "Field '\(name)' must be a string.") }
            guard EmailAddress.isValid(s) else {
                throw ServiceError.invalidField(name, "Field '\(name)' must be an email address.")
            }
        case .bool:
            guard value.boolValue != nil else { throw ServiceError.invalidField(name, "Field '\(name)' must be true or false.") }
        case .integer(let range):
            guard let i = value.intValue, range.contains(i) else {
                throw ServiceError.invalidField(name, "Field '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound).")
            }
        case .oneOf(let choices):
            guard let s = value.stringValue, choices.contains(s) else {
                throw ServiceError.invalidField(name, "Field '\(name)' must be one of: \(choices.joined(separator: ", ")).")
            }
        case .any:
            break
        }
    }
}
