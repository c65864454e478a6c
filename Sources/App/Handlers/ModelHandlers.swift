import Pipe
import Service
import Storage
import Support

/// `GET /models`: each enabled connection's model names and the pipe's, with failures listed beside them.
enum ModelHandlers {
    static func list(_ c: Context) throws -> Response {
        var models: [JSON] = []
        var errors: [JSON] = []
        for connection in try ConnectionRepository(c.db).all() where connection.enabled {
            switch ModelCatalog.names(of: connection, c) {
            case .success(let found):
                for name in found {
                    models.append([
                        "id": .string(name), "object": "model", "owned_by": .string(connection.name),
                        "connection_id": .number(Double(connection.id))
                    ])
                }
            case .failure(let failure):
                errors.append([
                    "connection_id": .number(Double(connection.id)), "connection": .string(connection.name),
                    "code": .string(failure.code.rawValue), "message": .string(failure.message)
                ])
            }
        }
        switch PipeTurn.models(c) {
        case .success(let names)?:
            for name in names {
                models.append([
                    "id": .string(name), "object": "model", "owned_by": "openrouter-pipe",
                    "pipe": .string(Valves.pipeID)
                ])
            }
        case .failure(let failure)?:
            errors.append(["pipe": .string(Valves.pipeID), "code": .string(failure.code.rawValue), "message": .string(failure.message)])
        case nil:
            break
        }
        let config = try c.services.runtimeConfig()
        return .json([
            "object": "list", "data": .array(models), "errors": .array(errors),
            "default_model": config.defaultModel.isEmpty ? .null : .string(config.defaultModel)
        ])
    }
}
