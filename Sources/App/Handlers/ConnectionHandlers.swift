import Service
import Storage
import Support

enum ConnectionHandlers {
    /// A connection as sent: each field typed here; the rules (allowlist, key changes) are the domain's.
    static let connectionInput = InputSpec([
        .optional("name", .string(min: 1, max: 100)), .optional("kind", .oneOf(ConnectionRules.kinds)),
        .optional("base_url", .string(min: 1, max: 2048)), .optional("api_version", .line(max: 40)), .optional("enabled", .bool),
        .optional("api_key", .string(min: 0, max: 4096)), .optional("clear_api_key", .bool), .optional("id", .integer(1...Int.max)),
        .optional("allowed_groups", ModelAccess.groupListKind)
    ])

    static func list(_ c: Context) throws -> Response {
        let vault = c.services.shared.vault
        return .json(["connections": .array(try ConnectionRepository(c.db).all().map { ConnectionRules.json($0, vault: vault) })])
    }

    static func get(_ c: Context) throws -> Response {
        guard let record = try ConnectionRepository(c.db).find(id: try c.id()) else { throw ServiceError.notFound }
        return .json(ConnectionRules.json(record, vault: c.services.shared.vault))
    }

    static func create(_ c: Context) throws -> Response {
        let record = try Connections.create(c, try c.input(connectionInput).document)
        Log.event(
            .info, "connection_created",
            [
                "request_id": .string(c.requestID), "connection_id": .number(Double(record.id)),
                "base_url": .string(record.baseURL)
            ])
        return .json(ConnectionRules.json(record, vault: c.services.shared.vault), status: 201)
    }

    static func update(_ c: Context) throws -> Response {
        let id = try c.id()
        let record = try Connections.update(c, id: id, try c.input(connectionInput).document)
        Log.event(.info, "connection_updated", ["request_id": .string(c.requestID), "connection_id": .number(Double(id))])
        return .json(ConnectionRules.json(record, vault: c.services.shared.vault))
    }

    static func delete(_ c: Context) throws -> Response {
        try Connections.delete(c, id: try c.id())
        return .noContent()
    }
}
