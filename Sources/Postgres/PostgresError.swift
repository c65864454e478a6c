/// A PostgreSQL failure, by what a caller does about it. The server's message stays in `message`
/// for the log; it never holds the connection's password (libpq does not echo it).
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case connection  // cannot connect, or the connection broke
        case constraint  // class 23: unique, foreign key, check, not null
        case retry  // serialization failure, deadlock, lock not available: worth another try
        case invalidInput  // a value PostgreSQL refused (a NUL in text, a bad number)
        case other
    }
    public let kind: Kind
    /// The five-character SQLSTATE, when the server sent one.
    public let sqlState: String?
    public let message: String

    public init(_ kind: Kind, sqlState: String? = nil, _ message: String) {
        self.kind = kind
        self.sqlState = sqlState
        self.message = message
    }

    /// The kind of a server error by its SQLSTATE class.
    public static func kind(ofSQLState state: String?) -> Kind {
        guard let state else { return .other }
        if state.hasPrefix("23") { return .constraint }
        if ["40001", "40P01", "55P03"].contains(state) { return .retry }
        if state.hasPrefix("08") || state.hasPrefix("57P") { return .connection }
        if state.hasPrefix("22") { return .invalidInput }
        return .other
    }

    public var description: String { "postgresql: \(sqlState.map { "[\($0)] " } ?? "")\(message)" }
}
