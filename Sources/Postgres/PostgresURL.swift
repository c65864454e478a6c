import CPostgres

/// `DATABASE_URL=postgresql://…`, checked by libpq's own parser (`PQconninfoParse`) so that what
/// we accept is exactly what libpq will use. The password is a secret: `masked` shows `***`.
public struct PostgresURL: Sendable, CustomStringConvertible {
    public let raw: String
    /// The connection options libpq read from it (keyword → value), the password among them.
    let options: [String: String]

    /// TLS modes libpq knows; `disable` and `allow` never verify anything and are refused.
    public static let sslModes: Set<String> = ["prefer", "require", "verify-ca", "verify-full"]

    public enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case notPostgreSQL, unparsable(String), controlCharacter, weakSSLMode(String), badPort, passwordNotMaskable
        public var description: String {
            switch self {
            case .notPostgreSQL: "expected postgresql://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE[?sslmode=...]"
            case .unparsable(let why): "libpq cannot read it: \(why)"
            case .controlCharacter: "contains a control character"
            case .badPort: "the port must be a number from 1 to 65535"
            case .passwordNotMaskable:
                "the password could not be told apart from the rest of the URL; percent-encode it (`?` as %3F, `@` as %40), "
                    + "or leave it out and use PGPASSWORD or ~/.pgpass"
            case .weakSSLMode(let mode): "sslmode=\(mode) does not protect the connection; use prefer, require, verify-ca or verify-full"
            }
        }
    }

    public static func parse(_ raw: String) -> Result<PostgresURL, Problem> {
        guard raw.hasPrefix("postgresql://") || raw.hasPrefix("postgres://") else { return .failure(.notPostgreSQL) }
        guard !raw.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return .failure(.controlCharacter) }
        var error: UnsafeMutablePointer<CChar>? = nil
        guard let parsed = PQconninfoParse(raw, &error) else {
            // libpq's message names the fault; it does not repeat the password.
            var why = error.map { String(cString: $0).split(separator: "\n").first.map(String.init) ?? "" } ?? "out of memory"
            // It may quote the token it could not read, and that token may be the password
            // ("invalid percent-encoded token"): the password never reaches a message.
            for secret in passwords(raw) { why = why.replacingOccurrences(of: secret, with: "***") }
            why = quotedTokensMasked(why)
            if let error { PQfreemem(error) }
            return .failure(.unparsable(why))
        }
        defer { PQconninfoFree(parsed) }
        var options: [String: String] = [:]
        var option = parsed
        while let keyword = option.pointee.keyword {
            if let value = option.pointee.val { options[String(cString: keyword)] = String(cString: value) }
            option += 1
        }
        if let mode = options["sslmode"], !sslModes.contains(mode) { return .failure(.weakSSLMode(mode)) }
        // libpq reads the port only when it connects; a typo is better caught at start-up.
        if let ports = options["port"],
            ports.split(separator: ",", omittingEmptySubsequences: false)
                .contains(where: { Int($0).map { !(1...65535).contains($0) } ?? true })
        {
            return .failure(.badPort)
        }
        // Every message shows `masked`: it must hide the password libpq read. A password our masker
        // cannot find (a `?` in it, a percent-encoded `password` name) is refused, not shown.
        if let password = options["password"], !password.isEmpty, reparsedPassword(masked(raw)) != "***" {
            return .failure(.passwordNotMaskable)
        }
        return .success(PostgresURL(raw: raw, options: options))
    }

    /// The password libpq reads from `raw`, or nil.
    static func reparsedPassword(_ raw: String) -> String? {
        guard let parsed = PQconninfoParse(raw, nil) else { return nil }
        defer { PQconninfoFree(parsed) }
        var option = parsed
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password" { return option.pointee.val.map { String(cString: $0) } }
            option += 1
        }
        return nil
    }

    /// libpq quotes the token it could not read; that token may hold the password.
    static func quotedTokensMasked(_ message: String) -> String {
        var out = ""
        var inside = false
        for c in message {
            if c == "\"" {
                out.append(c)
                if !inside { out += "***" }
                inside.toggle()
            } else if !inside {
                out.append(c)
            }
        }
        return out
    }

    public var hasPassword: Bool { !(options["password"] ?? "").isEmpty }
    public var database: String? { options["dbname"] }
    public var host: String? { options["host"] }

    /// The URL with its password replaced by `***` (in the authority and in a `password=` query).
    public var masked: String { Self.masked(raw) }

    public static func masked(_ raw: String) -> String {
        var out = raw
        if let scheme = out.range(of: "://") {
            let authorityEnd = out[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? out.endIndex
            let authority = out[scheme.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out.replaceSubrange(out.index(after: colon)..<at, with: "***")
            }
        }
        if let query = out.firstIndex(of: "?") {
            let parts = out[out.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { part in
                part.lowercased().hasPrefix("password=") ? "password=***" : String(part)
            }
            out = String(out[...query]) + parts.joined(separator: "&")
        }
        return out
    }

    /// The password as written in `raw` (in the authority, and in `password=` queries), unparsed.
    static func passwords(_ raw: String) -> [String] {
        var out: [String] = []
        if let scheme = raw.range(of: "://") {
            let authorityEnd = raw[scheme.upperBound...].firstIndex(where: { $0 == "/" || $0 == "?" }) ?? raw.endIndex
            let authority = raw[scheme.upperBound..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                out.append(String(authority[authority.index(after: colon)..<at]))
            }
        }
        if let query = raw.firstIndex(of: "?") {
            for part in raw[raw.index(after: query)...].split(separator: "&") where part.lowercased().hasPrefix("password=") {
                out.append(String(part.dropFirst("password=".count)))
            }
        }
        return out.filter { !$0.isEmpty }
    }

    public var description: String { masked }
}
